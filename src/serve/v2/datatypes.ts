import type { ColumnType } from "../../model/types.js";
import { describeJson } from "../describe.js";
import { badRequest } from "../errors.js";

/** Open Inference Protocol tensor datatype of each column type (used in model metadata). */
export const v2Datatype: Record<ColumnType, string> = {
  long: "INT64",
  integer: "INT32",
  double: "FP64",
  float: "FP32",
  string: "BYTES",
  boolean: "BOOL",
};

/** What each numeric tensor datatype can hold, as Triton and KServe check it. */
interface NumericRange {
  min: number;
  max: number;
  integer: boolean;
  /** The range as written in the error (the INT64 and UINT64 bounds are not doubles). */
  text: string;
}
const int = (min: number, max: number, text = `${min} to ${max}`): NumericRange => ({
  min,
  max,
  integer: true,
  text,
});
const float = (max: number): NumericRange => ({
  min: -max,
  max,
  integer: false,
  text: `-${max} to ${max}`,
});
const NUMERIC_RANGES: Record<string, NumericRange> = {
  INT8: int(-128, 127),
  INT16: int(-32768, 32767),
  INT32: int(-2147483648, 2147483647),
  // 2 ** 63 does not fit; the next double below it (2 ** 63 - 1024) does.
  INT64: int(-(2 ** 63), 2 ** 63 - 1024, "-9223372036854775808 to 9223372036854775807"),
  UINT8: int(0, 255),
  UINT16: int(0, 65535),
  UINT32: int(0, 4294967295),
  UINT64: int(0, 2 ** 64 - 2048, "0 to 18446744073709551615"),
  // The largest finite half, single and double floats.
  FP16: float(65504),
  FP32: float(3.4028234663852886e38),
  FP64: float(Number.MAX_VALUE),
};

/** Every numeric datatype of the protocol. */
export const NUMERIC_DATATYPES: ReadonlySet<string> = new Set(Object.keys(NUMERIC_RANGES));

/** Datatypes a column accepts: any numeric tensor for a numeric column (values are range-checked). */
export function datatypeFits(type: ColumnType, datatype: string): boolean {
  if (type === "string") return datatype === "BYTES";
  if (type === "boolean") return datatype === "BOOL";
  return NUMERIC_DATATYPES.has(datatype);
}

/** Every value of a tensor fits its datatype (range, and integers for the integer types). */
export function checkDatatype(name: string, datatype: string, values: ArrayLike<unknown>): void {
  const range = NUMERIC_RANGES[datatype];
  const wanted = range ? "number" : datatype === "BOOL" ? "boolean" : "string";
  for (let row = 0; row < values.length; row++) {
    const value = values[row];
    // A missing value of an optional column.
    if (value === null || value === undefined) continue;
    if (typeof value !== wanted) {
      throw badRequest(
        `input "${name}": row ${row} holds ${describeJson(value)}, not a ${wanted} as ${datatype} requires`,
        name,
        row,
      );
    }
    if (range === undefined) continue;
    const n = value as number;
    if (n < range.min || n > range.max) {
      throw badRequest(
        `input "${name}": ${n} (row ${row}) is outside the range of ${datatype} (${range.text})`,
        name,
        row,
      );
    }
    if (range.integer && !Number.isInteger(n)) {
      throw badRequest(
        `input "${name}": ${n} (row ${row}) is not an integer, as ${datatype} requires`,
        name,
        row,
      );
    }
  }
}
