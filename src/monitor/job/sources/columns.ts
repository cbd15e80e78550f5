import type { ColumnType, ModelInfo } from "../../../model/types.js";
import type { ColumnDtype } from "../../drift.js";
import type { FrameColumn } from "../types.js";

const DTYPES: Record<ColumnType, ColumnDtype> = {
  long: "integer",
  integer: "integer",
  double: "float",
  float: "float",
  string: "string",
  boolean: "boolean",
};

/**
 * The monitored columns of a model: its request columns (role input, in signature order) and
 * its primary output (role prediction), typed as the prediction log stores them (see
 * prediction-log/schema.ts layoutFor: a string label, an integer label, else a number).
 */
export function monitoredColumns(info: ModelInfo): FrameColumn[] {
  const output: ColumnDtype =
    info.outputType === "string" ? "string" : info.outputType === "long" ? "integer" : "float";
  return [
    ...info.inputs.map((input): FrameColumn => ({
      name: input.name,
      role: "input",
      dtype: DTYPES[input.type],
    })),
    { name: info.output, role: "prediction", dtype: output },
  ];
}
