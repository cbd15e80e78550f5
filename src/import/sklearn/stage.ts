import type { GraphBuilder } from "../onnx/graph.js";
import type { PyObject } from "../pickle/values.js";

/**
 * How the stages of a scikit-learn model meet inside one ONNX graph. A pipeline's first
 * stage reads named 1-D request columns and makes the feature matrix; every later stage
 * reads the matrix. Values are graph value names (see GraphBuilder).
 */

/**
 * The X a scikit-learn estimator would see, as it lives in the graph: a [N, width] DOUBLE
 * tensor `value` plus, for each column j of X, where it comes from. One-hot columns (a
 * DictVectorizer's "PU_DO=130_205", a OneHotEncoder's categories) are not materialized: a
 * categorical request column becomes one column of category codes, and X[:, j] is "that code
 * equals c". So cost per row does not grow with the number of categories: a linear model
 * gathers a weight by code, a tree compares the code (BRANCH_EQ / BRANCH_NEQ).
 */
export interface FeatureMatrix {
  value: string;
  width: number;
  /** One entry per column of X, in X's order. */
  features: FeatureColumn[];
  /** X's column names when known (feature_names_out), for messages and `mldeploy info`. */
  names?: string[];
}

/** Where column j of X comes from. */
export type FeatureColumn =
  /** X[:, j] = value[:, column]. */
  | { kind: "value"; column: number }
  /**
   * X[:, j] = (value[:, column] == code) ? 1 : 0. Codes are 0, 1, 2…; an unknown category has
   * code -1, which matches no indicator (all its one-hot columns are 0, as DictVectorizer and
   * OneHotEncoder(handle_unknown="ignore") make them).
   */
  | { kind: "indicator"; column: number; code: number };

/**
 * The first stage of a model that reads plain numeric columns (an estimator fitted on a
 * matrix): one DOUBLE graph input per name, stacked into X.
 */
export function matrixFromInputs(graph: GraphBuilder, names: string[]): FeatureMatrix {
  const axes = graph.constant("unsqueeze_axes", "INT64", [1], [1]);
  const columns = names.map((name) => {
    const input = graph.input(name, "DOUBLE");
    return graph.op("Unsqueeze", [input, axes], {}, { output: `${name}_column` });
  });
  const value =
    columns.length === 1
      ? columns[0]
      : graph.op("Concat", columns, { axis: { int: 1 } }, { output: "x" });
  return {
    value,
    width: names.length,
    features: names.map((_, column) => ({ kind: "value", column })),
    names,
  };
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
