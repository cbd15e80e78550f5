/**
 * The globals mldeploy's pickle reader accepts besides the caller's estimator classes. Each
 * one is given a meaning here (numpy arrays, dtypes, sets…) or kept as inert data; none is
 * ever imported or called. Anything else a pickle names is refused.
 */

/** numpy's array reconstruction: `_reconstruct(ndarray, (0,), b"b")` then BUILD with the state. */
export const NUMPY_RECONSTRUCT = new Set([
  "numpy.core.multiarray._reconstruct",
  "numpy._core.multiarray._reconstruct",
]);
/** Protocol 5 in-band arrays: `_frombuffer(buffer, dtype, shape, order)`. */
export const NUMPY_FROMBUFFER = new Set([
  "numpy.core.numeric._frombuffer",
  "numpy._core.numeric._frombuffer",
]);
/** numpy scalars (np.float64(1.5)…): `scalar(dtype, raw bytes)` (or the object for dtype O). */
export const NUMPY_SCALAR = new Set([
  "numpy.core.multiarray.scalar",
  "numpy._core.multiarray.scalar",
]);
export const NUMPY_DTYPE = "numpy.dtype";
/** What `_reconstruct` may be asked to make; a memmap is read as a plain array. */
export const NUMPY_ARRAY_TYPES = new Set(["numpy.ndarray", "numpy.memmap"]);

/**
 * numpy random states a fitted estimator may hold (random_state=np.random.RandomState(…)):
 * kept as inert objects of data, never seeded or called.
 */
export const NUMPY_RANDOM = new Set([
  "numpy.random._pickle.__randomstate_ctor",
  "numpy.random._pickle.__bit_generator_ctor",
  "numpy.random._pickle.__generator_ctor",
  "numpy.random.__RandomState_ctor",
  "numpy.random.mtrand.RandomState",
  "numpy.random._generator.Generator",
  "numpy.random._mt19937.MT19937",
  "numpy.random._pcg64.PCG64",
]);

export const JOBLIB_WRAPPER = new Set([
  "joblib.numpy_pickle.NumpyArrayWrapper",
  "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
]);

/** joblib < 0.10 kept arrays in side files (.npy) or zlib blobs: refused with advice. */
export const OLD_JOBLIB_WRAPPERS = new Set([
  "joblib.numpy_pickle.NDArrayWrapper",
  "joblib.numpy_pickle.ZNDArrayWrapper",
  "joblib.numpy_pickle_compat.NDArrayWrapper",
  "joblib.numpy_pickle_compat.ZNDArrayWrapper",
  "sklearn.externals.joblib.numpy_pickle.NDArrayWrapper",
  "sklearn.externals.joblib.numpy_pickle.ZNDArrayWrapper",
]);

/** Builtins with a meaning: containers pickled by reduction (protocols 0–3) and helpers. */
export const BUILTIN_SET = "builtins.set";
export const BUILTIN_FROZENSET = "builtins.frozenset";
export const BUILTIN_BYTEARRAY = "builtins.bytearray";
/** Protocols 0–2 write b"" as bytes() (other bytes as _codecs.encode). */
export const BUILTIN_BYTES = "builtins.bytes";
export const BUILTIN_SLICE = "builtins.slice";
export const ORDERED_DICT = "collections.OrderedDict";
export const RECONSTRUCTOR = "copyreg._reconstructor";
export const NEWOBJ = "copyreg.__newobj__";
export const NEWOBJ_EX = "copyreg.__newobj_ex__";
export const CODECS_ENCODE = "_codecs.encode";

/**
 * Types a fitted estimator may hold as a plain value (DictVectorizer(dtype=np.float64),
 * copyreg._reconstructor's `object`): inert class references.
 */
export const TYPE_REFERENCES = new Set([
  "builtins.object",
  "builtins.float",
  "builtins.int",
  "builtins.str",
  "builtins.bool",
  "builtins.bytes",
  "builtins.list",
  "builtins.dict",
  "builtins.tuple",
  "builtins.complex",
  ...[
    "float16",
    "float32",
    "float64",
    "longdouble",
    "half",
    "single",
    "double",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "intc",
    "uintc",
    "intp",
    "uintp",
    "longlong",
    "ulonglong",
    "bool_",
    "bool",
    "object_",
    "str_",
    "bytes_",
    "complex64",
    "complex128",
    "datetime64",
    "timedelta64",
  ].map((name) => `numpy.${name}`),
]);

const FIXED = new Set<string>([
  ...NUMPY_RECONSTRUCT,
  ...NUMPY_FROMBUFFER,
  ...NUMPY_SCALAR,
  NUMPY_DTYPE,
  ...NUMPY_ARRAY_TYPES,
  ...NUMPY_RANDOM,
  ...JOBLIB_WRAPPER,
  BUILTIN_SET,
  BUILTIN_FROZENSET,
  BUILTIN_BYTEARRAY,
  BUILTIN_SLICE,
  ORDERED_DICT,
  RECONSTRUCTOR,
  NEWOBJ,
  NEWOBJ_EX,
  CODECS_ENCODE,
  ...TYPE_REFERENCES,
]);

/** Every global the reader itself accepts (the caller adds its estimator classes). */
export const FIXED_GLOBALS: ReadonlySet<string> = FIXED;

/**
 * Python 3 writes protocols 0–2 with Python 2's names (`__builtin__.set`,
 * `copy_reg._reconstructor`, `commands.Popen`) and maps them back on load when fix_imports is
 * on, the default (Lib/_compat_pickle.py IMPORT_MAPPING and NAME_MAPPING, copied here). This
 * reader maps them the same way, so it accepts and names each global as Python would load it.
 */
const PY2_MODULES: Record<string, string> = {
  __builtin__: "builtins",
  copy_reg: "copyreg",
  Queue: "queue",
  SocketServer: "socketserver",
  ConfigParser: "configparser",
  repr: "reprlib",
  tkFileDialog: "tkinter.filedialog",
  tkSimpleDialog: "tkinter.simpledialog",
  tkColorChooser: "tkinter.colorchooser",
  tkCommonDialog: "tkinter.commondialog",
  Dialog: "tkinter.dialog",
  Tkdnd: "tkinter.dnd",
  tkFont: "tkinter.font",
  tkMessageBox: "tkinter.messagebox",
  ScrolledText: "tkinter.scrolledtext",
  Tkconstants: "tkinter.constants",
  Tix: "tkinter.tix",
  ttk: "tkinter.ttk",
  Tkinter: "tkinter",
  markupbase: "_markupbase",
  _winreg: "winreg",
  thread: "_thread",
  dummy_thread: "_dummy_thread",
  dbhash: "dbm.bsd",
  dumbdbm: "dbm.dumb",
  dbm: "dbm.ndbm",
  gdbm: "dbm.gnu",
  xmlrpclib: "xmlrpc.client",
  SimpleXMLRPCServer: "xmlrpc.server",
  httplib: "http.client",
  htmlentitydefs: "html.entities",
  HTMLParser: "html.parser",
  Cookie: "http.cookies",
  cookielib: "http.cookiejar",
  BaseHTTPServer: "http.server",
  "test.test_support": "test.support",
  commands: "subprocess",
  urlparse: "urllib.parse",
  robotparser: "urllib.robotparser",
  urllib2: "urllib.request",
  anydbm: "dbm",
  _abcoll: "collections.abc",
  cPickle: "pickle",
  _elementtree: "xml.etree.ElementTree",
  FileDialog: "tkinter.filedialog",
  SimpleDialog: "tkinter.simpledialog",
  DocXMLRPCServer: "xmlrpc.server",
  SimpleHTTPServer: "http.server",
  CGIHTTPServer: "http.server",
  UserDict: "collections",
  UserList: "collections",
  UserString: "collections",
  whichdb: "dbm",
  StringIO: "io",
  cStringIO: "io",
};
const PY2_NAMES: Record<string, [string, string]> = {
  "__builtin__.xrange": ["builtins", "range"],
  "__builtin__.reduce": ["functools", "reduce"],
  "__builtin__.intern": ["sys", "intern"],
  "__builtin__.unichr": ["builtins", "chr"],
  "__builtin__.unicode": ["builtins", "str"],
  "__builtin__.long": ["builtins", "int"],
  "itertools.izip": ["builtins", "zip"],
  "itertools.imap": ["builtins", "map"],
  "itertools.ifilter": ["builtins", "filter"],
  "itertools.ifilterfalse": ["itertools", "filterfalse"],
  "itertools.izip_longest": ["itertools", "zip_longest"],
  "UserDict.IterableUserDict": ["collections", "UserDict"],
  "UserList.UserList": ["collections", "UserList"],
  "UserString.UserString": ["collections", "UserString"],
  "whichdb.whichdb": ["dbm", "whichdb"],
  "_socket.fromfd": ["socket", "fromfd"],
  "_multiprocessing.Connection": ["multiprocessing.connection", "Connection"],
  "multiprocessing.process.Process": ["multiprocessing.context", "Process"],
  "multiprocessing.forking.Popen": ["multiprocessing.popen_fork", "Popen"],
  "urllib.ContentTooShortError": ["urllib.error", "ContentTooShortError"],
  "urllib.getproxies": ["urllib.request", "getproxies"],
  "urllib.pathname2url": ["urllib.request", "pathname2url"],
  "urllib.quote_plus": ["urllib.parse", "quote_plus"],
  "urllib.quote": ["urllib.parse", "quote"],
  "urllib.unquote_plus": ["urllib.parse", "unquote_plus"],
  "urllib.unquote": ["urllib.parse", "unquote"],
  "urllib.url2pathname": ["urllib.request", "url2pathname"],
  "urllib.urlcleanup": ["urllib.request", "urlcleanup"],
  "urllib.urlencode": ["urllib.parse", "urlencode"],
  "urllib.urlopen": ["urllib.request", "urlopen"],
  "urllib.urlretrieve": ["urllib.request", "urlretrieve"],
  "urllib2.HTTPError": ["urllib.error", "HTTPError"],
  "urllib2.URLError": ["urllib.error", "URLError"],
  "exceptions.ArithmeticError": ["builtins", "ArithmeticError"],
  "exceptions.AssertionError": ["builtins", "AssertionError"],
  "exceptions.AttributeError": ["builtins", "AttributeError"],
  "exceptions.BaseException": ["builtins", "BaseException"],
  "exceptions.BufferError": ["builtins", "BufferError"],
  "exceptions.BytesWarning": ["builtins", "BytesWarning"],
  "exceptions.DeprecationWarning": ["builtins", "DeprecationWarning"],
  "exceptions.EOFError": ["builtins", "EOFError"],
  "exceptions.EnvironmentError": ["builtins", "EnvironmentError"],
  "exceptions.Exception": ["builtins", "Exception"],
  "exceptions.FloatingPointError": ["builtins", "FloatingPointError"],
  "exceptions.FutureWarning": ["builtins", "FutureWarning"],
  "exceptions.GeneratorExit": ["builtins", "GeneratorExit"],
  "exceptions.IOError": ["builtins", "IOError"],
  "exceptions.ImportError": ["builtins", "ImportError"],
  "exceptions.ImportWarning": ["builtins", "ImportWarning"],
  "exceptions.IndentationError": ["builtins", "IndentationError"],
  "exceptions.IndexError": ["builtins", "IndexError"],
  "exceptions.KeyError": ["builtins", "KeyError"],
  "exceptions.KeyboardInterrupt": ["builtins", "KeyboardInterrupt"],
  "exceptions.LookupError": ["builtins", "LookupError"],
  "exceptions.MemoryError": ["builtins", "MemoryError"],
  "exceptions.NameError": ["builtins", "NameError"],
  "exceptions.NotImplementedError": ["builtins", "NotImplementedError"],
  "exceptions.OSError": ["builtins", "OSError"],
  "exceptions.OverflowError": ["builtins", "OverflowError"],
  "exceptions.PendingDeprecationWarning": ["builtins", "PendingDeprecationWarning"],
  "exceptions.ReferenceError": ["builtins", "ReferenceError"],
  "exceptions.RuntimeError": ["builtins", "RuntimeError"],
  "exceptions.RuntimeWarning": ["builtins", "RuntimeWarning"],
  "exceptions.StopIteration": ["builtins", "StopIteration"],
  "exceptions.SyntaxError": ["builtins", "SyntaxError"],
  "exceptions.SyntaxWarning": ["builtins", "SyntaxWarning"],
  "exceptions.SystemError": ["builtins", "SystemError"],
  "exceptions.SystemExit": ["builtins", "SystemExit"],
  "exceptions.TabError": ["builtins", "TabError"],
  "exceptions.TypeError": ["builtins", "TypeError"],
  "exceptions.UnboundLocalError": ["builtins", "UnboundLocalError"],
  "exceptions.UnicodeDecodeError": ["builtins", "UnicodeDecodeError"],
  "exceptions.UnicodeEncodeError": ["builtins", "UnicodeEncodeError"],
  "exceptions.UnicodeError": ["builtins", "UnicodeError"],
  "exceptions.UnicodeTranslateError": ["builtins", "UnicodeTranslateError"],
  "exceptions.UnicodeWarning": ["builtins", "UnicodeWarning"],
  "exceptions.UserWarning": ["builtins", "UserWarning"],
  "exceptions.ValueError": ["builtins", "ValueError"],
  "exceptions.Warning": ["builtins", "Warning"],
  "exceptions.ZeroDivisionError": ["builtins", "ZeroDivisionError"],
  "multiprocessing.AuthenticationError": ["multiprocessing.context", "AuthenticationError"],
  "multiprocessing.BufferTooShort": ["multiprocessing.context", "BufferTooShort"],
  "multiprocessing.ProcessError": ["multiprocessing.context", "ProcessError"],
  "multiprocessing.TimeoutError": ["multiprocessing.context", "TimeoutError"],
  "__builtin__.basestring": ["builtins", "str"],
  "exceptions.StandardError": ["builtins", "Exception"],
  "UserDict.UserDict": ["collections", "UserDict"],
  "socket._socketobject": ["socket", "SocketType"],
};

export function fixPy2Name(module: string, name: string): [string, string] {
  return PY2_NAMES[`${module}.${name}`] ?? [PY2_MODULES[module] ?? module, name];
}
