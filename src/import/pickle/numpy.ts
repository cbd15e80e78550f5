import { latin1 } from "./cursor.js";
import { normalizeInt } from "./text.js";
import type { NdArray, PyDType, PyValue } from "./values.js";

/**
 * numpy's pickled forms, read as data (numpy/core/src/multiarray/descriptor.c
 * arraydescr_reduce / arraydescr_setstate, methods.c array_reduce_ex / array_setstate,
 * numpy/core/numeric.py _frombuffer, scalartypes.c gentype_reduce).
 */

export type Fail = (what: string) => Error;

/** Structured dtypes read (sklearn's Tree nodes): fields of plain scalar types. */
const TYPESTR = /^([<>|=]?)([biufcmMOSUVa])(\d*)$/;

/** `numpy.dtype(typestr, align, copy)`, before BUILD gives its byte order and fields. */
export function dtypeFromArgs(args: PyValue[], fail: Fail): PyDType {
  const spec = args[0];
  if (typeof spec !== "string") throw fail(`numpy.dtype of ${typeof spec}, not a type string`);
  const match = TYPESTR.exec(spec);
  if (!match) throw fail(`numpy dtype "${spec.slice(0, 40)}" is not one mldeploy reads`);
  const kind = match[2] === "a" ? "S" : match[2];
  const digits = match[3] === "" ? undefined : Number(match[3]);
  const dtype: PyDType = { kind: "dtype", str: "", itemsize: 0 };
  setKind(dtype, match[1] === "" ? "<" : match[1], kind, digits ?? (kind === "O" ? 8 : 0));
  return dtype;
}

function setKind(dtype: PyDType, endian: string, kind: string, size: number): void {
  // numpy's dtype.str: U counts characters (4 bytes each), everything else bytes.
  const itemsize = kind === "U" ? size * 4 : size;
  dtype.itemsize = itemsize;
  const order = endian === "=" ? "<" : endian;
  if (kind === "O") dtype.str = "|O";
  else if (kind === "S" || kind === "V" || kind === "b" || itemsize === 1 || order === "|")
    dtype.str = `|${kind}${size}`;
  else dtype.str = `${order}${kind}${size}`;
}

function kindOf(dtype: PyDType): string {
  return dtype.str === "|O" ? "O" : dtype.str[1];
}

/**
 * dtype.__setstate__: (version, byteorder, subarray, names, fields, elsize, alignment,
 * flags[, metadata]) for versions 3–4, (version, byteorder, subarray, names, fields, elsize,
 * alignment) for 1–2.
 */
export function applyDTypeState(dtype: PyDType, state: PyValue, fail: Fail): void {
  const items = tupleItems(state);
  if (!items || items.length < 7) throw fail("numpy dtype state is not a tuple of 7 to 9 items");
  const [, endian, subarray, names, fields, elsize] = items;
  if (subarray !== null) throw fail(`numpy sub-array dtypes (${dtype.str}) are not read`);
  const kind = kindOf(dtype);
  const size =
    typeof elsize === "number" && elsize > 0
      ? kind === "U"
        ? elsize / 4
        : elsize
      : kind === "U"
        ? dtype.itemsize / 4
        : dtype.itemsize;
  if (!Number.isSafeInteger(size) || size < 0)
    throw fail(`numpy dtype with item size ${String(elsize)}`);
  setKind(dtype, typeof endian === "string" ? endian : "<", kind, size);
  if (names === null || names === undefined) return;
  const nameList = tupleItems(names);
  if (!nameList || nameList.some((n) => typeof n !== "string"))
    throw fail("numpy structured dtype whose names are not strings");
  if (!isDict(fields)) throw fail("numpy structured dtype without a fields dict");
  const map = new Map<string, { dtype: PyDType; offset: number }>();
  for (const name of nameList as string[]) {
    const field = tupleItems(fields.entries.get(name) ?? null);
    const fieldType = field?.[0];
    const offset = field?.[1];
    if (!isDType(fieldType) || typeof offset !== "number" || offset < 0)
      throw fail(`numpy structured dtype field "${name}" is not a (dtype, offset) pair`);
    if (offset + fieldType.itemsize > dtype.itemsize)
      throw fail(`numpy structured dtype field "${name}" lies outside its record`);
    map.set(name, { dtype: fieldType, offset });
  }
  dtype.names = nameList as string[];
  dtype.fields = map;
  dtype.str = `|V${dtype.itemsize}`;
}

/** What `_reconstruct(ndarray, (0,), b"b")` makes before its BUILD. */
export function emptyArray(): NdArray {
  return {
    kind: "ndarray",
    dtype: { kind: "dtype", str: "|u1", itemsize: 1 },
    shape: [0],
    fortranOrder: false,
    data: new Uint8Array(0),
  };
}

/** ndarray.__setstate__((version, shape, dtype, is_fortran, data)) — or the 4-item form. */
export function applyArrayState(array: NdArray, state: PyValue, fail: Fail): void {
  const items = tupleItems(state);
  if (!items || (items.length !== 5 && items.length !== 4))
    throw fail("numpy array state is not a (version, shape, dtype, is_fortran, data) tuple");
  const [shape, dtype, fortran, data] = items.length === 5 ? items.slice(1) : items;
  if (!isDType(dtype)) throw fail("numpy array state has no dtype");
  const dims = shapeOf(shape, fail);
  const isFortran = fortran === true || fortran === 1;
  if (Array.isArray(data)) {
    // Object arrays pickle their elements as a list in C order, whatever is_fortran says.
    Object.assign(array, makeArray(dtype, dims, false, data, fail));
  } else {
    Object.assign(array, makeArray(dtype, dims, isFortran, bytesOf(data, fail), fail));
  }
}

/** Protocol 5's in-band `_frombuffer(buffer, dtype, shape, order)`. */
export function arrayFromBuffer(args: PyValue[], fail: Fail): NdArray {
  const [buffer, dtype, shape, order] = args;
  if (!isDType(dtype)) throw fail("numpy _frombuffer without a dtype");
  if (order !== "C" && order !== "F") throw fail(`numpy _frombuffer with order ${String(order)}`);
  return makeArray(dtype, shapeOf(shape, fail), order === "F", bytesOf(buffer, fail), fail);
}

/**
 * An array from its dtype, shape and storage-order contents: raw bytes for numeric and
 * structured dtypes (checked to be exactly elements × itemsize), decoded strings for U/S,
 * the elements for O.
 */
export function makeArray(
  dtype: PyDType,
  shape: number[],
  fortranOrder: boolean,
  data: Uint8Array | PyValue[],
  fail: Fail,
): NdArray {
  const count = elementCount(shape, fail);
  const kind = kindOf(dtype);
  if (Array.isArray(data)) {
    if (kind !== "O")
      throw fail(
        `numpy array of ${dtype.str} given a list (arrays of Python objects in records are not read)`,
      );
    if (data.length !== count)
      throw fail(`numpy array of shape (${shape.join(", ")}) given ${data.length} elements`);
    return { kind: "ndarray", dtype, shape, fortranOrder, data };
  }
  if (kind === "O") throw fail("numpy object array given raw bytes");
  if (data.length !== count * dtype.itemsize) {
    throw fail(
      `numpy array of shape (${shape.join(", ")}) and dtype ${dtype.str} needs ${count * dtype.itemsize} bytes, the file gives ${data.length}`,
    );
  }
  if (kind === "U" || kind === "S") {
    const strings: PyValue[] = [];
    for (let i = 0; i < count; i++) {
      const item = data.subarray(i * dtype.itemsize, (i + 1) * dtype.itemsize);
      strings.push(kind === "U" ? ucs4(item, dtype.str[0] === ">") : latin1(trimNuls(item)));
    }
    return { kind: "ndarray", dtype, shape, fortranOrder, data: strings };
  }
  return { kind: "ndarray", dtype, shape, fortranOrder, data };
}

/** numpy.core.multiarray.scalar(dtype, bytes) — np.float64(1.5) and friends — as a JS value. */
export function scalarFromArgs(args: PyValue[], fail: Fail): PyValue {
  const [dtype, payload] = args;
  if (!isDType(dtype)) throw fail("numpy scalar without a dtype");
  if (kindOf(dtype) === "O") return payload ?? null;
  const bytes = bytesOf(payload ?? null, fail);
  if (bytes.length !== dtype.itemsize)
    throw fail(`numpy scalar of ${dtype.str} given ${bytes.length} bytes`);
  const value = scalarValue(dtype, bytes);
  if (value !== undefined) return value;
  return makeArray(dtype, [], false, bytes, fail);
}

/** One element of a plain dtype as a JS value, or undefined for types kept as arrays. */
export function scalarValue(dtype: PyDType, bytes: Uint8Array): PyValue | undefined {
  if (dtype.fields) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = dtype.str[0] !== ">";
  const code = dtype.str.slice(1);
  switch (code) {
    case "f8":
      return view.getFloat64(0, little);
    case "f4":
      return view.getFloat32(0, little);
    case "i8":
      return normalizeInt(view.getBigInt64(0, little));
    case "u8":
      return normalizeInt(view.getBigUint64(0, little));
    case "i4":
      return view.getInt32(0, little);
    case "u4":
      return view.getUint32(0, little);
    case "i2":
      return view.getInt16(0, little);
    case "u2":
      return view.getUint16(0, little);
    case "i1":
      return view.getInt8(0);
    case "u1":
      return view.getUint8(0);
    case "b1":
      return view.getUint8(0) !== 0;
  }
  if (code[0] === "U") return ucs4(bytes, !little);
  if (code[0] === "S") return { kind: "bytes", data: bytes.slice() };
  return undefined;
}

function ucs4(bytes: Uint8Array, bigEndian: boolean): string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let end = bytes.length >> 2;
  while (end > 0 && view.getUint32((end - 1) * 4, !bigEndian) === 0) end--;
  let out = "";
  for (let i = 0; i < end; i++) {
    const code = view.getUint32(i * 4, !bigEndian);
    out += code <= 0x10ffff ? String.fromCodePoint(code) : "\ufffd";
  }
  return out;
}

function trimNuls(bytes: Uint8Array): Uint8Array {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return bytes.subarray(0, end);
}

/** Arrays larger than this many elements are refused before anything is allocated. */
const MAX_ELEMENTS = 2 ** 40;

export function shapeOf(shape: PyValue | undefined, fail: Fail): number[] {
  const items = tupleItems(shape ?? null) ?? (Array.isArray(shape) ? shape : undefined);
  if (!items) throw fail("numpy array shape is not a tuple");
  if (items.length > 32) throw fail(`numpy array of ${items.length} dimensions (numpy allows 32)`);
  return items.map((d) => {
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0)
      throw fail(`numpy array shape has a dimension of ${String(d)}`);
    return d;
  });
}

function elementCount(shape: number[], fail: Fail): number {
  let count = 1;
  for (const d of shape) {
    count *= d;
    if (count > MAX_ELEMENTS) throw fail(`numpy array of shape (${shape.join(", ")}) is too large`);
  }
  return count;
}

/** Raw bytes from bytes / bytearray, or a Python 2 str (latin-1). */
function bytesOf(value: PyValue, fail: Fail): Uint8Array {
  if (typeof value === "string") {
    const out = new Uint8Array(value.length);
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c > 0xff) throw fail("numpy data given as text with characters beyond latin-1");
      out[i] = c;
    }
    return out;
  }
  if (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    value.kind === "bytes"
  )
    return value.data;
  throw fail("numpy data is not bytes");
}

export function tupleItems(value: PyValue): PyValue[] | undefined {
  return typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    value.kind === "tuple"
    ? value.items
    : undefined;
}

export function isDType(value: PyValue | undefined): value is PyDType {
  return (
    typeof value === "object" && value !== null && !Array.isArray(value) && value.kind === "dtype"
  );
}

function isDict(value: PyValue | undefined): value is Extract<PyValue, { kind: "dict" }> {
  return (
    typeof value === "object" && value !== null && !Array.isArray(value) && value.kind === "dict"
  );
}

export { bytesOf as pyBytes };
