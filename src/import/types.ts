import { UserError } from "../config/errors.js";
import type { ColumnSpec } from "../model/types.js";

/**
 * A model from the Python world that mldeploy cannot read: an estimator outside the supported
 * list (named, with the list), a layout from a version it does not know (naming the attribute),
 * a pickle global outside the allow-list (named, refused before anything is built), a truncated
 * or malformed file. One line, no stack: the user's file is at fault, not mldeploy.
 */
export class ImportError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ImportError";
  }
}

/** What a converter makes of one estimator (or pipeline): an ONNX graph and how to call it. */
export interface ConvertedModel {
  /** The serialized ONNX ModelProto (IR 8, ai.onnx 17, ai.onnx.ml 3). */
  onnx: Uint8Array;
  /** The graph's inputs, one 1-D column each ([N]), in the order the graph declares them. */
  inputs: ColumnSpec[];
  /**
   * The graph's outputs. The first is the prediction: a regressor's value ([N] double) or a
   * classifier's label ([N] int64 / string / double, as the classes are). A classifier's
   * second output is "probabilities" ([N, classes] double, columns in `classes` order).
   */
  outputs: ColumnSpec[];
  kind: "regressor" | "classifier";
  /** A classifier's classes, in the order of its probability columns. */
  classes?: Array<string | number>;
  /** What was found, for provenance and `mldeploy info`, e.g. "Pipeline(DictVectorizer, RandomForestRegressor(100 trees))". */
  estimator: string;
  /** Library and version as the file says, when it does (e.g. sklearn "1.2.1" from _sklearn_version). */
  library?: { name: string; version?: string };
}
