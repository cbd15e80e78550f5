import type { GraphBuilder } from "../../onnx/graph.js";
import {
  arrayAttr,
  attr,
  isNdArray,
  isObject,
  numberAttr,
  optionalAttr,
  shortName,
  toFloat64,
  toValues,
} from "../../pickle/access.js";
import type { PyObject } from "../../pickle/values.js";
import { ImportError } from "../../types.js";
import type { EstimatorOutputs, FeatureMatrix } from "../stage.js";
import { classifierOutputs, readClasses } from "./classes-of.js";
import { treeLeafValues } from "./ensemble.js";
import { reduceTrees } from "./forest.js";
import { readTrees, type TreeArrays } from "./tree.js";

/**
 * GradientBoostingRegressor / GradientBoostingClassifier: raw = init + Σ learning_rate ·
 * tree(x) over estimators_ (shape (n_estimators, K): K = 1 for regression and binary, the
 * number of classes otherwise), as sklearn's predict_stages; then the loss maps raw to
 * probabilities and labels.
 *
 * Two generations of loss objects are read, and each keeps its own formulas:
 * - scikit-learn 1.0–1.3 `sklearn.ensemble._gb_losses` (LeastSquaresError, BinomialDeviance,
 *   MultinomialDeviance, ExponentialLoss…): init from the prior p as log(p / (1 - p))
 *   (binomial), ½ of that (exponential), log(p) (multinomial); binomial label =
 *   argmax([1 - p, p]) (a tie goes to the first class).
 * - scikit-learn ≥ 1.4 `sklearn._loss.loss` (HalfSquaredError, HalfBinomialLoss,
 *   HalfMultinomialLoss, ExponentialLoss…): init = loss.link.link(p): logit, ½ logit,
 *   log(p / gmean(p)) (sklearn/_loss/link.py); binary label = raw >= 0.
 * In both, p is clipped to [eps, 1 - eps] with eps = float32's machine epsilon (sklearn's
 * "FIXME: This is quite large!"), probabilities are sigmoid(raw) (sigmoid(2·raw) for the
 * exponential loss) or softmax(raw), and the multiclass label is argmax(raw).
 */

type LossKind = "regression" | "binomial" | "multinomial" | "exponential";

const LOSSES: Record<string, { kind: LossKind; modern: boolean; name: string }> = {
  "sklearn.ensemble._gb_losses.LeastSquaresError": {
    kind: "regression",
    modern: false,
    name: "squared error",
  },
  "sklearn.ensemble._gb_losses.LeastAbsoluteError": {
    kind: "regression",
    modern: false,
    name: "absolute error",
  },
  "sklearn.ensemble._gb_losses.HuberLossFunction": {
    kind: "regression",
    modern: false,
    name: "huber",
  },
  "sklearn.ensemble._gb_losses.QuantileLossFunction": {
    kind: "regression",
    modern: false,
    name: "quantile",
  },
  "sklearn.ensemble._gb_losses.BinomialDeviance": {
    kind: "binomial",
    modern: false,
    name: "log-loss",
  },
  "sklearn.ensemble._gb_losses.MultinomialDeviance": {
    kind: "multinomial",
    modern: false,
    name: "log-loss",
  },
  "sklearn.ensemble._gb_losses.ExponentialLoss": {
    kind: "exponential",
    modern: false,
    name: "exponential",
  },
  "sklearn._loss.loss.HalfSquaredError": {
    kind: "regression",
    modern: true,
    name: "squared error",
  },
  "sklearn._loss.loss.AbsoluteError": { kind: "regression", modern: true, name: "absolute error" },
  "sklearn._loss.loss.HuberLoss": { kind: "regression", modern: true, name: "huber" },
  "sklearn._loss.loss.PinballLoss": { kind: "regression", modern: true, name: "quantile" },
  "sklearn._loss.loss.HalfBinomialLoss": { kind: "binomial", modern: true, name: "log-loss" },
  "sklearn._loss.loss.HalfMultinomialLoss": { kind: "multinomial", modern: true, name: "log-loss" },
  "sklearn._loss.loss.ExponentialLoss": { kind: "exponential", modern: true, name: "exponential" },
};

/** The loss classes a fitted GradientBoosting* model may hold. */
export const LOSS_CLASSES = Object.keys(LOSSES);

const FLOAT32_EPS = 2 ** -23;

interface Boosting {
  trees: TreeArrays[];
  stages: number;
  perStage: number;
  learningRate: number;
  loss: { kind: LossKind; modern: boolean; name: string };
  init: PyObject | "zero";
}

function readBoosting(estimator: PyObject): Boosting {
  const owner = shortName(estimator.className);
  const estimators = arrayAttr(estimator, "estimators_");
  if (estimators.shape.length !== 2 || estimators.shape[0] === 0) {
    throw new ImportError(
      `${owner}: estimators_ has shape (${estimators.shape.join(", ")}), ` +
        `expected (n_estimators, K) of fitted trees`,
    );
  }
  const [stages, perStage] = estimators.shape;
  const trees = readTrees(estimator, toValues(estimators));
  const lossObject = optionalAttr(estimator, "_loss") ?? optionalAttr(estimator, "loss_");
  if (!isObject(lossObject)) {
    throw new ImportError(
      `${owner}: cannot read attribute "_loss" (the fitted loss); ` +
        `this layout is not one of scikit-learn 1.0–1.6 that mldeploy reads`,
    );
  }
  const loss = LOSSES[lossObject.className];
  if (!loss) {
    throw new ImportError(
      `${owner}: loss ${lossObject.className} is not supported; supported are: ` +
        [...new Set(LOSS_CLASSES.map(shortName))].join(", "),
    );
  }
  const init = attr(estimator, "init_");
  if (init !== "zero" && !isObject(init)) {
    throw new ImportError(`${owner}: init_ is neither "zero" nor a fitted estimator`);
  }
  return {
    trees,
    stages,
    perStage,
    learningRate: numberAttr(estimator, "learning_rate"),
    loss,
    init,
  };
}

/** The Σ over stages of learning_rate · leaf value: [N] when K = 1, [N, K] otherwise. */
function boostedSum(graph: GraphBuilder, X: FeatureMatrix, model: Boosting): string {
  const { trees, learningRate } = model;
  for (const tree of trees) {
    if (tree.width !== 1) throw new ImportError("a gradient-boosting tree holds class values");
  }
  const values = treeLeafValues(graph, X, trees, {
    width: 1,
    // predict_stages: out += scale * value[node], the product in float64 as here.
    write: (t, node, out, at) => {
      out[at] = learningRate * trees[t].values[node];
    },
  });
  if (model.perStage === 1) return reduceTrees(graph, values, "boosted_sum");
  const shape = graph.constant("stage_shape", "INT64", [3], [0, model.stages, model.perStage]);
  const staged = graph.op("Reshape", [values, shape], {}, { output: "boosted_stages" });
  return reduceTrees(graph, staged, "boosted_sum");
}

export function convertGradientBoostingRegressor(
  estimator: PyObject,
  graph: GraphBuilder,
  X: FeatureMatrix,
): EstimatorOutputs {
  const model = readBoosting(estimator);
  const owner = shortName(estimator.className);
  if (model.loss.kind !== "regression" || model.perStage !== 1) {
    throw new ImportError(
      `${owner}: a regressor with a ${model.loss.name} loss is not one sklearn fits`,
    );
  }
  const sum = boostedSum(graph, X, model);
  const init = model.init === "zero" ? 0 : regressorInit(owner, model.init);
  if (init === 0) return { kind: "regressor", prediction: sum };
  const initValue = graph.constant("boosting_init", "DOUBLE", [], [init]);
  return {
    kind: "regressor",
    prediction: graph.op("Add", [initValue, sum], {}, { output: "raw" }),
  };
}

export function convertGradientBoostingClassifier(
  estimator: PyObject,
  graph: GraphBuilder,
  X: FeatureMatrix,
): EstimatorOutputs {
  const model = readBoosting(estimator);
  const owner = shortName(estimator.className);
  const classes = readClasses(estimator);
  const nClasses = classes.values.length;
  const { kind, modern } = model.loss;
  const expected = nClasses === 2 ? 1 : nClasses;
  if (kind === "regression" || model.perStage !== expected || nClasses < 2) {
    throw new ImportError(
      `${owner}: ${model.perStage} trees per stage with ${nClasses} classes and a ` +
        `${model.loss.name} loss is not a layout mldeploy reads`,
    );
  }
  const sum = boostedSum(graph, X, model);
  const prior = model.init === "zero" ? undefined : classifierPrior(owner, model.init, nClasses);
  if (kind === "multinomial") {
    let raw = sum;
    if (prior) {
      const clipped = prior.map(clip);
      const logs = clipped.map(Math.log);
      // Modern: MultinomialLogit.link = log(p / gmean(p)), gmean = exp(mean(log p)).
      const gmean = Math.exp(logs.reduce((a, b) => a + b, 0) / logs.length);
      const init = modern ? clipped.map((p) => Math.log(p / gmean)) : logs;
      const initValue = graph.constant("boosting_init", "DOUBLE", [nClasses], init);
      raw = graph.op("Add", [initValue, sum], {}, { output: "raw" });
    }
    const probabilities = graph.op(
      "Softmax",
      [raw],
      { axis: { int: 1 } },
      { output: "probabilities" },
    );
    const index = graph.op(
      "ArgMax",
      [raw],
      { axis: { int: 1 }, keepdims: { int: 0 }, select_last_index: { int: 0 } },
      { output: "class_index" },
    );
    return classifierOutputs(graph, classes, probabilities, index);
  }
  let raw = sum;
  if (prior) {
    const p = clip(prior[1]);
    const logit = Math.log(p / (1 - p));
    const init = kind === "exponential" ? 0.5 * logit : logit;
    const initValue = graph.constant("boosting_init", "DOUBLE", [], [init]);
    raw = graph.op("Add", [initValue, sum], {}, { output: "raw" });
  }
  let scaled = raw;
  if (kind === "exponential") {
    const two = graph.constant("two", "DOUBLE", [], [2]);
    scaled = graph.op("Mul", [raw, two], {}, { output: "raw_times_2" });
  }
  const p1 = graph.op("Sigmoid", [scaled], {}, { output: "p1" });
  const one = graph.constant("one", "DOUBLE", [], [1]);
  const p0 = graph.op("Sub", [one, p1], {}, { output: "p0" });
  const axes = graph.constant("class_axis", "INT64", [1], [1]);
  const columns = [p0, p1].map((p) =>
    graph.op("Unsqueeze", [p, axes], {}, { output: `${p}_column` }),
  );
  const probabilities = graph.op(
    "Concat",
    columns,
    { axis: { int: 1 } },
    { output: "probabilities" },
  );
  if (kind === "binomial" && !modern) return classifierOutputs(graph, classes, probabilities);
  // Exponential loss (every version) and the modern binomial loss: class 1 when raw >= 0.
  const zero = graph.constant("zero", "DOUBLE", [], [0]);
  const positive = graph.op("GreaterOrEqual", [raw, zero], {}, { output: "raw_nonnegative" });
  const index = graph.op("Cast", [positive], { to: { int: 7 } }, { output: "class_index" });
  return classifierOutputs(graph, classes, probabilities, index);
}

function clip(p: number): number {
  return Math.min(Math.max(p, FLOAT32_EPS), 1 - FLOAT32_EPS);
}

/** A DummyRegressor's constant_ (any strategy: it is fitted to one number). */
function regressorInit(owner: string, init: PyObject): number {
  if (shortName(init.className) !== "DummyRegressor") {
    throw new ImportError(
      `${owner}: init estimator ${shortName(init.className)} is not supported ` +
        `(supported are: the default DummyRegressor, "zero")`,
    );
  }
  const constant = toFloat64(arrayAttr(init, "constant_"));
  if (constant.length !== 1) {
    throw new ImportError(
      `${owner}: init_ DummyRegressor has ${constant.length} outputs, expected 1`,
    );
  }
  return constant[0];
}

/** A DummyClassifier's predict_proba row (the same for every row). */
function classifierPrior(owner: string, init: PyObject, nClasses: number): number[] {
  if (shortName(init.className) !== "DummyClassifier") {
    throw new ImportError(
      `${owner}: init estimator ${shortName(init.className)} is not supported ` +
        `(supported are: the default DummyClassifier, "zero")`,
    );
  }
  const strategy = optionalAttr(init, "_strategy") ?? optionalAttr(init, "strategy");
  const priorValue = attr(init, "class_prior_");
  const prior = isNdArray(priorValue) ? Array.from(toFloat64(priorValue)) : [];
  if (prior.length !== nClasses) {
    throw new ImportError(
      `${owner}: init_ DummyClassifier has ${prior.length} class priors, expected ${nClasses}`,
    );
  }
  if (strategy === "prior") return prior;
  if (strategy === "most_frequent") {
    const best = prior.indexOf(Math.max(...prior));
    return prior.map((_, k) => (k === best ? 1 : 0));
  }
  throw new ImportError(
    `${owner}: init_ DummyClassifier(strategy=${JSON.stringify(strategy)}) is not supported ` +
      `(supported are: "prior", "most_frequent")`,
  );
}

/** "GradientBoostingClassifier(100 stages × 3 trees, max depth 3, learning rate 0.1, log-loss)". */
export function describeBoosting(estimator: PyObject): string {
  const estimators = optionalAttr(estimator, "estimators_");
  const shape = isNdArray(estimators) ? estimators.shape : [];
  const trees = isNdArray(estimators) ? toValues(estimators) : [];
  const lossObject = optionalAttr(estimator, "_loss") ?? optionalAttr(estimator, "loss_");
  const loss = isObject(lossObject) ? LOSSES[lossObject.className]?.name : undefined;
  const parts = [
    shape[1] && shape[1] > 1 ? `${shape[0]} stages × ${shape[1]} trees` : `${shape[0] ?? 0} trees`,
    maxDepthOf(trees),
    `learning rate ${String(optionalAttr(estimator, "learning_rate") ?? "?")}`,
    ...(loss ? [loss] : []),
  ];
  return `${shortName(estimator.className)}(${parts.filter(Boolean).join(", ")})`;
}

/** "max depth 20" from the trees' fitted depths (tree_.max_depth), cheap: no node arrays read. */
export function maxDepthOf(trees: unknown[]): string {
  let depth = -1;
  for (const tree of trees) {
    if (!isObject(tree as PyObject)) continue;
    const inner = optionalAttr(tree as PyObject, "tree_");
    if (!isObject(inner)) continue;
    const d = optionalAttr(inner, "max_depth");
    if (typeof d === "number" || typeof d === "bigint") depth = Math.max(depth, Number(d));
  }
  return depth >= 0 ? `max depth ${depth}` : "";
}
