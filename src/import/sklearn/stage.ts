import type { GraphBuilder } from "../onnx/graph.js";
import type { PyObject } from "../pickle/values.js";

/**
 * How the stages of a scikit-learn model meet inside one ONNX graph. A pipeline's first
 * stage reads named 1-D request columns and makes the feature matrix; every later stage
 * reads the matrix. Values are graph value names (see GraphBuilder).
 */

/** A [N, width] DOUBLE tensor in the graph: the X that scikit-learn's estimator would see. */
export interface FeatureMatrix {
  value: string;
  width: number;
  /** Column names when known (feature_names_out), for messages and `mldeploy info`. */
  names?: string[];
}

/** What a final estimator leaves in the graph. */
export type EstimatorOutputs =
  | { kind: "regressor"; prediction: string }
  | {
      kind: "classifier";
      /** [N] labels, of the classes' own type. */
      label: string;
      labelType: "INT64" | "STRING" | "DOUBLE";
      /** [N, classes.length] DOUBLE. */
      probabilities: string;
      classes: Array<string | number>;
    };

/** Converts a fitted final estimator that reads a feature matrix. */
export type EstimatorConverter = (
  estimator: PyObject,
  graph: GraphBuilder,
  X: FeatureMatrix,
) => EstimatorOutputs;

/** A short description of an estimator for provenance, e.g. "RandomForestRegressor(100 trees)". */
export type EstimatorDescriber = (estimator: PyObject) => string;
