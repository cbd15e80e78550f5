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
 * Python 3 writes protocols 0–2 with Python 2's module names (`__builtin__.set`,
 * `copy_reg._reconstructor`) and maps them back on load (_compat_pickle, fix_imports=True);
 * so does this reader, for the names it accepts.
 */
const PY2_MODULES: Record<string, string> = {
  __builtin__: "builtins",
  copy_reg: "copyreg",
};
const PY2_NAMES: Record<string, [string, string]> = {
  "__builtin__.unicode": ["builtins", "str"],
  "__builtin__.long": ["builtins", "int"],
  "__builtin__.basestring": ["builtins", "str"],
};

export function fixPy2Name(module: string, name: string): [string, string] {
  return PY2_NAMES[`${module}.${name}`] ?? [PY2_MODULES[module] ?? module, name];
}
