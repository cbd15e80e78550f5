import { ImportError } from "../types.js";
import type { NdArray, PyDict, PyDType, PyObject, PyValue } from "./values.js";

/**
 * Typed reads of what the pickle reader built, for converters. Every failure is an
 * ImportError naming the estimator and the attribute, so a layout from a version mldeploy does
 * not know says which attribute it could not read.
 */

/** The short class name ("LinearRegression") of a qualified one. */
export function shortName(className: string): string {
  return className.slice(className.lastIndexOf(".") + 1);
}

export function isObject(value: PyValue | undefined, className?: string): value is PyObject {
  return (
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    value.kind === "object" &&
    (className === undefined ||
      value.className === className ||
      shortName(value.className) === className)
  );
}

export function isNdArray(value: PyValue | undefined): value is NdArray {
  return (
    typeof value === "object" && value !== null && !Array.isArray(value) && value.kind === "ndarray"
  );
}

function layoutError(owner: PyObject, attribute: string, problem: string): ImportError {
  return new ImportError(
    `${shortName(owner.className)}: cannot read attribute "${attribute}" (${problem}); ` +
      `this layout is not one of scikit-learn 1.0–1.6 / XGBoost 1.7–2.x that mldeploy reads`,
  );
}

/** An attribute that must be there. */
export function attr(owner: PyObject, name: string): PyValue {
  if (!owner.state.has(name)) throw layoutError(owner, name, "missing");
  return owner.state.get(name) as PyValue;
}

/** An attribute that may be absent (older or newer versions); undefined then. */
export function optionalAttr(owner: PyObject, name: string): PyValue | undefined {
  return owner.state.get(name);
}

export function numberAttr(owner: PyObject, name: string): number {
  const value = attr(owner, name);
  const number = scalarNumber(value);
  if (number === undefined)
    throw layoutError(owner, name, `expected a number, found ${describe(value)}`);
  return number;
}

export function stringAttr(owner: PyObject, name: string): string {
  const value = attr(owner, name);
  if (typeof value !== "string")
    throw layoutError(owner, name, `expected a string, found ${describe(value)}`);
  return value;
}

export function objectAttr(owner: PyObject, name: string, className?: string): PyObject {
  const value = attr(owner, name);
  if (!isObject(value, className))
    throw layoutError(
      owner,
      name,
      `expected ${className ?? "an object"}, found ${describe(value)}`,
    );
  return value;
}

export function arrayAttr(owner: PyObject, name: string): NdArray {
  const value = attr(owner, name);
  if (!isNdArray(value))
    throw layoutError(owner, name, `expected a numpy array, found ${describe(value)}`);
  return value;
}

/** A dict (or OrderedDict) attribute, e.g. DictVectorizer's vocabulary_. */
export function dictAttr(owner: PyObject, name: string): PyDict {
  const value = attr(owner, name);
  if (typeof value !== "object" || value === null || Array.isArray(value) || value.kind !== "dict")
    throw layoutError(owner, name, `expected a dict, found ${describe(value)}`);
  return value;
}

/** True for a class the pickle holds as a value (DictVectorizer's dtype=numpy.float64). */
export function isClassReference(
  value: PyValue | undefined,
  className?: string,
): value is PyObject {
  return isObject(value, className) && value.isClass === true;
}

/** A Python list or tuple attribute's items. */
export function listAttr(owner: PyObject, name: string): PyValue[] {
  const value = attr(owner, name);
  const items = sequenceItems(value);
  if (!items) throw layoutError(owner, name, `expected a list, found ${describe(value)}`);
  return items;
}

export function sequenceItems(value: PyValue | undefined): PyValue[] | undefined {
  if (Array.isArray(value)) return value;
  if (typeof value === "object" && value !== null && "kind" in value && value.kind === "tuple")
    return value.items;
  return undefined;
}

/** A number from a Python int/float/bool, a numpy scalar (0-d array) or a 1-element array. */
export function scalarNumber(value: PyValue | undefined): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  if (typeof value === "boolean") return value ? 1 : 0;
  if (
    isNdArray(value) &&
    value.shape.reduce((a, b) => a * b, 1) === 1 &&
    !Array.isArray(value.data)
  ) {
    return toFloat64(value)[0];
  }
  return undefined;
}

function elementCount(array: NdArray): number {
  return array.shape.reduce((a, b) => a * b, 1);
}

/** Reads element i of a numeric dtype from little- or big-endian bytes. */
function numericReader(dtype: PyDType, bytes: Uint8Array): (i: number) => number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = dtype.str[0] !== ">";
  const code = dtype.str.slice(1);
  switch (code) {
    case "f8":
      return (i) => view.getFloat64(i * 8, little);
    case "f4":
      return (i) => view.getFloat32(i * 4, little);
    case "f2":
      return (i) => halfToNumber(view.getUint16(i * 2, little));
    case "i8":
      return (i) => Number(view.getBigInt64(i * 8, little));
    case "u8":
      return (i) => Number(view.getBigUint64(i * 8, little));
    case "i4":
      return (i) => view.getInt32(i * 4, little);
    case "u4":
      return (i) => view.getUint32(i * 4, little);
    case "i2":
      return (i) => view.getInt16(i * 2, little);
    case "u2":
      return (i) => view.getUint16(i * 2, little);
    case "i1":
      return (i) => view.getInt8(i);
    case "u1":
    case "b1":
      return (i) => view.getUint8(i);
    default:
      throw new ImportError(`numpy dtype "${dtype.str}" is not a numeric type mldeploy reads`);
  }
}

function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/**
 * The elements of a numeric (or object-of-numbers) array as float64, in C (row-major) order
 * whatever the storage order.
 */
export function toFloat64(array: NdArray): Float64Array {
  const n = elementCount(array);
  const out = new Float64Array(n);
  if (Array.isArray(array.data)) {
    const items = array.data;
    for (let i = 0; i < n; i++) {
      const v = scalarNumber(items[i]);
      if (v === undefined)
        throw new ImportError(
          `numpy array of dtype ${array.dtype.str} holds ${describe(items[i])} where a number belongs`,
        );
      out[i] = v;
    }
  } else {
    const read = numericReader(array.dtype, array.data);
    for (let i = 0; i < n; i++) out[i] = read(i);
  }
  return array.fortranOrder && array.shape.length > 1 ? fortranToC(out, array.shape) : out;
}

/** The elements of a string or object array as JS values (strings, numbers…), C order. */
export function toValues(array: NdArray): PyValue[] {
  if (Array.isArray(array.data)) {
    return array.fortranOrder && array.shape.length > 1
      ? fortranToC(array.data, array.shape)
      : array.data;
  }
  return Array.from(toFloat64(array));
}

/** A field of a structured array (e.g. a tree's nodes["threshold"]) as float64, one per record. */
export function fieldFloat64(array: NdArray, field: string): Float64Array {
  const spec = array.dtype.fields?.get(field);
  if (!spec || Array.isArray(array.data)) {
    throw new ImportError(
      `numpy structured array has no field "${field}" (it has ${array.dtype.names?.join(", ") ?? "no fields"})`,
    );
  }
  const records = elementCount(array);
  const stride = array.dtype.itemsize;
  const bytes = array.data;
  const size = spec.dtype.itemsize;
  const out = new Float64Array(records);
  for (let r = 0; r < records; r++) {
    const offset = r * stride + spec.offset;
    out[r] = numericReader(spec.dtype, bytes.subarray(offset, offset + size))(0);
  }
  return out;
}

function fortranToC(values: Float64Array, shape: number[]): Float64Array;
function fortranToC<T>(values: T[], shape: number[]): T[];
function fortranToC<T>(values: Float64Array | T[], shape: number[]): Float64Array | T[] {
  const n = values.length;
  const dims = shape.length;
  const out: Array<number | T> | Float64Array =
    values instanceof Float64Array ? new Float64Array(n) : new Array<T>(n);
  const index = new Array<number>(dims).fill(0);
  for (let f = 0; f < n; f++) {
    let c = 0;
    for (let d = 0; d < dims; d++) c = c * shape[d] + index[d];
    (out as Array<number | T>)[c] = values[f];
    for (let d = 0; d < dims; d++) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return out as Float64Array | T[];
}

/** A short description of a value for messages ("a list of 3", "None", "a str"). */
export function describe(value: PyValue | undefined): string {
  if (value === undefined) return "nothing";
  if (value === null) return "None";
  if (typeof value === "boolean") return "a bool";
  if (typeof value === "number" || typeof value === "bigint") return "a number";
  if (typeof value === "string") return "a str";
  if (Array.isArray(value)) return `a list of ${value.length}`;
  switch (value.kind) {
    case "object":
      return `a ${shortName(value.className)}`;
    case "ndarray":
      return `a numpy array of ${value.dtype.str} with shape (${value.shape.join(", ")})`;
    case "tuple":
      return `a tuple of ${value.items.length}`;
    default:
      return `a ${value.kind}`;
  }
}
