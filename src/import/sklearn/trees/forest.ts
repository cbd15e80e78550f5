import type { GraphBuilder } from "../../onnx/graph.js";
import { listAttr, optionalAttr, scalarNumber, shortName } from "../../pickle/access.js";
import type { PyObject } from "../../pickle/values.js";
import { ImportError } from "../../types.js";
import type { EstimatorOutputs, FeatureMatrix } from "../stage.js";
import { classifierOutputs, readClasses } from "./classes-of.js";
import { treeLeafValues, type LeafValues } from "./ensemble.js";
import { readTree, readTrees, type TreeArrays } from "./tree.js";

/**
 * DecisionTree / ExtraTree regressors and classifiers, and the forests of them (RandomForest,
 * ExtraTrees): a forest predicts the mean of its trees' predictions (sklearn's
 * _accumulate_prediction sums them, then divides by len(estimators_)); a classifier tree
 * predicts its leaf's class weights normalized to sum 1 (DecisionTreeClassifier.predict_proba:
 * scikit-learn < 1.4 stores weighted counts in tree_.value, newer versions fractions, and
 * normalizing per leaf gives both), and the label is classes_[argmax(proba)].
 */

/** A regressor: the mean of the trees' leaf values, [N]. */
export function convertTreesRegressor(
  estimator: PyObject,
  graph: GraphBuilder,
  X: FeatureMatrix,
  trees: TreeArrays[],
): EstimatorOutputs {
  requireSingleOutput(estimator);
  for (const tree of trees) {
    if (tree.width !== 1)
      throw new ImportError(`${shortName(estimator.className)}: a tree holds class values`);
  }
  const leaves: LeafValues = {
    width: 1,
    write: (t, node, out, at) => {
      out[at] = trees[t].values[node];
    },
  };
  const values = treeLeafValues(graph, X, trees, leaves);
  const sum = reduceTrees(graph, values, "tree_sum");
  const count = graph.constant("tree_count", "DOUBLE", [], [trees.length]);
  return { kind: "regressor", prediction: graph.op("Div", [sum, count], {}, { output: "mean" }) };
}

/** A classifier: the mean of the trees' normalized class weights, [N, C], and its label. */
export function convertTreesClassifier(
  estimator: PyObject,
  graph: GraphBuilder,
  X: FeatureMatrix,
  trees: TreeArrays[],
): EstimatorOutputs {
  requireSingleOutput(estimator);
  const classes = readClasses(estimator);
  const width = classes.values.length;
  for (const tree of trees) {
    if (tree.width !== width) {
      throw new ImportError(
        `${shortName(estimator.className)}: a tree has ${tree.width} class columns, ` +
          `classes_ has ${width}`,
      );
    }
  }
  const leaves: LeafValues = {
    width,
    write: (t, node, out, at) => {
      const values = trees[t].values;
      let sum = 0;
      for (let k = 0; k < width; k++) sum += values[node * width + k];
      // As predict_proba: a leaf without weight divides by 1.
      const normalizer = sum === 0 ? 1 : sum;
      for (let k = 0; k < width; k++) out[at + k] = values[node * width + k] / normalizer;
    },
  };
  const values = treeLeafValues(graph, X, trees, leaves);
  const sum = reduceTrees(graph, values, "tree_proba_sum");
  const count = graph.constant("tree_count", "DOUBLE", [], [trees.length]);
  const probabilities = graph.op("Div", [sum, count], {}, { output: "probabilities" });
  return classifierOutputs(graph, classes, probabilities);
}

/** Sums [N, T] over trees to [N], or [N, T, C] to [N, C]. */
export function reduceTrees(graph: GraphBuilder, values: string, output: string): string {
  const axes = graph.constant("tree_axis", "INT64", [1], [1]);
  return graph.op("ReduceSum", [values, axes], { keepdims: { int: 0 } }, { output });
}

function requireSingleOutput(estimator: PyObject): void {
  const outputs = scalarNumber(optionalAttr(estimator, "n_outputs_"));
  if (outputs !== undefined && outputs !== 1) {
    throw new ImportError(
      `${shortName(estimator.className)}: multi-output models (n_outputs_=${outputs}) are not ` +
        `supported; mldeploy converts models fitted on a single target`,
    );
  }
}

export function forestTrees(estimator: PyObject): TreeArrays[] {
  const estimators = listAttr(estimator, "estimators_");
  if (estimators.length === 0) {
    throw new ImportError(`${shortName(estimator.className)}: estimators_ is empty (not fitted?)`);
  }
  return readTrees(estimator, estimators);
}

export const convertDecisionTreeRegressor = (e: PyObject, g: GraphBuilder, X: FeatureMatrix) =>
  convertTreesRegressor(e, g, X, [readTree(e)]);
export const convertDecisionTreeClassifier = (e: PyObject, g: GraphBuilder, X: FeatureMatrix) =>
  convertTreesClassifier(e, g, X, [readTree(e)]);
export const convertForestRegressor = (e: PyObject, g: GraphBuilder, X: FeatureMatrix) =>
  convertTreesRegressor(e, g, X, forestTrees(e));
export const convertForestClassifier = (e: PyObject, g: GraphBuilder, X: FeatureMatrix) =>
  convertTreesClassifier(e, g, X, forestTrees(e));
