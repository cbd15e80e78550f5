import type { ColumnSpec, FeatureExpr } from "../model/types.js";

/** Which target values are kept for training; outside the range a row is dropped. */
export interface TargetSpec {
  name: string;
  min: number;
  max: number;
  unit?: string;
  definition?: string;
}

/**
 * A model's domain as data (request schema, feature map, target, output name). Trainers and
 * loaders take one of these, so a new model brings a new spec, not new code paths.
 */
export interface TrainingSpec {
  modelName: string;
  /** Name of the model output returned to callers. */
  output: string;
  /** Request columns (what a caller sends and what the training file must have). */
  inputs: ColumnSpec[];
  /** Model (ONNX) input name -> expression over request columns. */
  features: Record<string, FeatureExpr>;
  target: TargetSpec;
  inputExample: Record<string, unknown>[];
}
