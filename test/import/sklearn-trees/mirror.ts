import type { NdArray, PyDType, PyValue } from "../../../src/import/pickle/values.js";

/**
 * The fixture script's NAME.mirror.json (the object graph pickle records of a model, from
 * __reduce_ex__) as the pickle reader's value model: lets the converters be tested on the
 * very graph a pickle holds, independently of the reader.
 */
type Mirror =
  | null
  | boolean
  | number
  | string
  | { $float: string }
  | { $list: Mirror[] }
  | { $tuple: Mirror[] }
  | { $dict: Array<[string, Mirror]> }
  | { $global: string }
  | { $obj: string; args: Mirror[]; state: Record<string, Mirror> }
  | {
      $nd: {
        str: string;
        itemsize: number;
        shape: number[];
        fields: Array<[string, string, number]> | null;
        items?: Mirror[];
        data?: string;
      };
    };

export function fromMirror(value: Mirror): PyValue {
  if (value === null || typeof value !== "object") return value;
  if ("$float" in value) return Number(value.$float.replace("inf", "Infinity"));
  if ("$list" in value) return value.$list.map(fromMirror);
  if ("$tuple" in value) return { kind: "tuple", items: value.$tuple.map(fromMirror) };
  if ("$dict" in value)
    return { kind: "dict", entries: new Map(value.$dict.map(([k, v]) => [k, fromMirror(v)])) };
  if ("$global" in value) return value.$global;
  if ("$obj" in value) {
    return {
      kind: "object",
      className: value.$obj,
      args: value.args.map(fromMirror),
      state: new Map(Object.entries(value.state).map(([k, v]) => [k, fromMirror(v)])),
    };
  }
  const nd = value.$nd;
  const dtype: PyDType = {
    kind: "dtype",
    str: nd.str,
    itemsize: nd.itemsize,
    ...(nd.fields
      ? {
          names: nd.fields.map(([name]) => name),
          fields: new Map(
            nd.fields.map(([name, str, offset]) => [
              name,
              { dtype: { kind: "dtype", str, itemsize: Number(str.slice(2)) }, offset },
            ]),
          ),
        }
      : {}),
  };
  const array: NdArray = {
    kind: "ndarray",
    dtype,
    shape: nd.shape,
    fortranOrder: false,
    data: nd.items
      ? nd.items.map(fromMirror)
      : new Uint8Array(Buffer.from(nd.data ?? "", "base64")),
  };
  return array;
}
