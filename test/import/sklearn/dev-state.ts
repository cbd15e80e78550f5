// DEV ONLY (removed once the pickle reader is merged): PyValue from /tmp/skl/dump.py's JSON.
import { readFileSync } from "node:fs";
import type { PyValue } from "../../../src/import/pickle/values.js";

type J = null | boolean | number | string | J[] | { [k: string]: J };
function dec(v: J): PyValue {
  if (v === null || typeof v === "boolean" || typeof v === "number" || typeof v === "string")
    return v;
  if (Array.isArray(v)) return v.map(dec);
  if ("__float__" in v) return Number(v.__float__);
  if ("__tuple__" in v) return { kind: "tuple", items: (v.__tuple__ as J[]).map(dec) };
  if ("__dict__" in v)
    return {
      kind: "dict",
      entries: new Map((v.__dict__ as [string, J][]).map(([k, x]) => [k, dec(x)])),
    };
  if ("__type__" in v)
    return { kind: "object", className: v.__type__ as string, args: [], state: new Map() };
  if ("__obj__" in v)
    return {
      kind: "object",
      className: v.__obj__ as string,
      args: (v.args as J[]).map(dec),
      state: new Map(Object.entries(v.state as Record<string, J>).map(([k, x]) => [k, dec(x)])),
    };
  if ("__nd__" in v) {
    const str = v.__nd__ as string;
    const shape = v.shape as number[];
    const fields = v.fields as [string, string, number][] | undefined;
    const dtype = {
      kind: "dtype" as const,
      str,
      itemsize: Number(str.slice(2)) || 8,
      ...(fields
        ? {
            names: fields.map((f) => f[0]),
            fields: new Map(
              fields.map(([n, s, o]) => [
                n,
                {
                  dtype: { kind: "dtype" as const, str: s, itemsize: Number(s.slice(2)) },
                  offset: o,
                },
              ]),
            ),
          }
        : {}),
    };
    if ("items" in v)
      return {
        kind: "ndarray",
        dtype,
        shape,
        fortranOrder: false,
        data: (v.items as J[]).map(dec),
      };
    return {
      kind: "ndarray",
      dtype,
      shape,
      fortranOrder: false,
      data: new Uint8Array(Buffer.from(v.b64 as string, "base64")),
    };
  }
  throw new Error("?");
}
export function loadState(file: string): PyValue {
  return dec(JSON.parse(readFileSync(`${file}.state.json`, "utf8")) as J);
}
