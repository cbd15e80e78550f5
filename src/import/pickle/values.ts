/**
 * What the safe pickle reader builds: plain data, never a live Python object. A class from the
 * allow-list becomes a PyObject holding its class name and the state pickle gave it; nothing a
 * file names is ever called.
 */
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | PyBytes
  | PyValue[]
  | PyTuple
  | PyDict
  | PySet
  | PyObject
  | NdArray
  | PyDType;

/** bytes and bytearray. */
export interface PyBytes {
  readonly kind: "bytes";
  readonly data: Uint8Array;
}

export interface PyTuple {
  readonly kind: "tuple";
  readonly items: PyValue[];
}

/** dict and collections.OrderedDict; keys are strings or numbers in every layout read here. */
export interface PyDict {
  readonly kind: "dict";
  readonly entries: Map<string | number | bigint, PyValue>;
  /**
   * Entries whose key is no str or number (a tuple, None, bytes…), in file order; absent when
   * there are none. A bool key is stored as 1 or 0, as Python's dict compares it.
   */
  otherEntries?: Array<[PyValue, PyValue]>;
}

export interface PySet {
  readonly kind: "set";
  readonly items: PyValue[];
}

/** An instance of an allowed class: its qualified name and the state BUILD gave it. */
export interface PyObject {
  readonly kind: "object";
  /** module + "." + qualname as pickle names it, e.g. "sklearn.linear_model._base.LinearRegression". */
  readonly className: string;
  /** Arguments of its construction (NEWOBJ / REDUCE of the class), when any. */
  readonly args: PyValue[];
  /** __dict__ (or the dict part of a (dict, slots) state) after BUILD; empty before. */
  readonly state: Map<string, PyValue>;
  /** A state BUILD gave that is not a dict (e.g. a tuple), kept as given. */
  rawState?: PyValue;
  /** Keyword arguments of its construction (NEWOBJ_EX), when any. */
  kwargs?: Map<string, PyValue>;
  /** Items a list subclass got by APPEND(S), when any. */
  listItems?: PyValue[];
  /** Items a dict subclass got by SETITEM(S), when any. */
  dictItems?: PyDict;
  /**
   * True when the pickle holds the class itself, not an instance (e.g. DictVectorizer's
   * dtype=numpy.float64): then args and state are empty.
   */
  isClass?: boolean;
}

/** numpy.dtype: a scalar type ("<f8", "|O", "<U5"…) or a structured one with named fields. */
export interface PyDType {
  readonly kind: "dtype";
  /** numpy's dtype.str, e.g. "<f8", "<i8", "|u1", "|b1", "|O", "<U12", "|V56" for structured. */
  str: string;
  itemsize: number;
  /** Structured dtypes only: field name -> its scalar dtype and byte offset in a record. */
  fields?: Map<string, { dtype: PyDType; offset: number }>;
  /** Field names in declaration order (structured dtypes only). */
  names?: string[];
}

/** numpy.ndarray. */
export interface NdArray {
  readonly kind: "ndarray";
  dtype: PyDType;
  shape: number[];
  /** Column-major storage (numpy's F order). */
  fortranOrder: boolean;
  /**
   * Numeric dtypes: the raw little-endian bytes, itemsize × product(shape). Object dtype
   * ("|O"): the elements, in storage order. Unicode/bytes dtypes ("<U…", "|S…"): the decoded
   * strings, in storage order. Structured dtypes: the raw record bytes.
   */
  data: Uint8Array | PyValue[];
}
