import { fieldFloat64, toFloat64, toValues } from "../../../src/import/pickle/access.js";
import type { NdArray, PyValue } from "../../../src/import/pickle/values.js";

/**
 * PyValue → the tagged JSON the Python fixture scripts write for the same value (ENCODE_PY
 * below), so one deep equality compares what mldeploy read with what Python pickled.
 */
export type Tagged = null | boolean | number | string | Tagged[] | { [key: string]: Tagged };

export function encode(value: PyValue): Tagged {
  if (value === null || typeof value === "boolean" || typeof value === "string") return value;
  if (typeof value === "number") return encodeFloat(value);
  if (typeof value === "bigint") return { bigint: value.toString() };
  if (Array.isArray(value)) return value.map(encode);
  switch (value.kind) {
    case "bytes":
      return { bytes: Buffer.from(value.data).toString("hex") };
    case "tuple":
      return { tuple: value.items.map(encode) };
    case "set":
      return { set: value.items.map(encode).sort(byJson) };
    case "dict":
      return {
        dict: [
          ...[...value.entries].map(([k, v]) => [encodeKey(k), encode(v)]),
          ...(value.otherEntries ?? []).map(([k, v]) => [encode(k), encode(v)]),
        ],
      };
    case "ndarray":
      return { ndarray: encodeArray(value) };
    case "dtype":
      return { dtype: value.str };
    case "object":
      return { object: value.className };
  }
}

function encodeKey(key: string | number | bigint): Tagged {
  return typeof key === "bigint"
    ? { bigint: key.toString() }
    : typeof key === "number"
      ? encodeFloat(key)
      : key;
}

function encodeFloat(value: number): Tagged {
  if (Number.isNaN(value)) return { float: "nan" };
  if (!Number.isFinite(value)) return { float: value > 0 ? "inf" : "-inf" };
  return value;
}

function encodeArray(array: NdArray): Tagged {
  const base = { dtype: array.dtype.str, shape: array.shape };
  const kind = array.dtype.str === "|O" ? "O" : array.dtype.str[1];
  if (array.dtype.names) {
    const fields: Record<string, Tagged> = {};
    for (const name of array.dtype.names)
      fields[name] = Array.from(fieldFloat64(array, name)).map(encodeFloat);
    return { ...base, fields };
  }
  if (kind === "O" || kind === "U" || kind === "S")
    return { ...base, values: toValues(array).map(encode) };
  const numbers = Array.from(toFloat64(array));
  return { ...base, values: kind === "b" ? numbers.map((v) => v !== 0) : numbers.map(encodeFloat) };
}

function byJson(a: Tagged, b: Tagged): number {
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The same encoding in Python, for fixture scripts (defines `enc`). */
export const ENCODE_PY = `
import json, math, collections
import numpy as np

def _float(v):
    if math.isnan(v): return {"float": "nan"}
    if math.isinf(v): return {"float": "inf" if v > 0 else "-inf"}
    return v

def _int(v):
    return v if abs(v) < 2**53 else {"bigint": str(v)}

def _array(a):
    base = {"dtype": a.dtype.str, "shape": list(a.shape)}
    if a.dtype.names:
        return dict(base, fields={n: [_float(float(x)) for x in a[n].ravel(order="C")] for n in a.dtype.names})
    flat = a.ravel(order="C")
    if a.dtype.kind in "OUS":
        return dict(base, values=[enc(x) for x in flat.tolist()])
    if a.dtype.kind == "b":
        return dict(base, values=[bool(x) for x in flat])
    return dict(base, values=[_float(float(x)) for x in flat])

def _key(k):
    return json.dumps(k, sort_keys=True, separators=(",", ":"))

def enc(v):
    if v is None or isinstance(v, (bool, np.bool_)): return None if v is None else bool(v)
    if isinstance(v, (int, np.integer)): return _int(int(v))
    if isinstance(v, (float, np.floating)): return _float(float(v))
    if isinstance(v, (str, np.str_)): return str(v)
    if isinstance(v, (bytes, bytearray)): return {"bytes": bytes(v).hex()}
    if isinstance(v, tuple): return {"tuple": [enc(x) for x in v]}
    if isinstance(v, list): return [enc(x) for x in v]
    if isinstance(v, dict): return {"dict": [[enc(k), enc(x)] for k, x in v.items()]}
    if isinstance(v, (set, frozenset)): return {"set": sorted((enc(x) for x in v), key=_key)}
    if isinstance(v, np.ndarray): return {"ndarray": _array(v)}
    if isinstance(v, np.dtype): return {"dtype": v.str}
    raise TypeError(type(v))
`;
