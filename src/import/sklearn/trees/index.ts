import { optionalAttr, sequenceItems, shortName } from "../../pickle/access.js";
import type { EstimatorConverter, EstimatorDescriber } from "../stage.js";
import {
  convertGradientBoostingClassifier,
  convertGradientBoostingRegressor,
  describeBoosting,
  LOSS_CLASSES,
  maxDepthOf,
} from "./boosting.js";
import {
  convertDecisionTreeClassifier,
  convertDecisionTreeRegressor,
  convertForestClassifier,
  convertForestRegressor,
} from "./forest.js";

/**
 * scikit-learn's tree models: DecisionTree and ExtraTree regressors/classifiers, RandomForest,
 * ExtraTrees and GradientBoosting regressors/classifiers, by the qualified class names
 * scikit-learn 1.0–1.6 pickle them under.
 */

const TREE = "sklearn.tree._classes";
const FOREST = "sklearn.ensemble._forest";
const GB = "sklearn.ensemble._gb";

export const TREE_CONVERTERS: Record<string, EstimatorConverter> = {
  [`${TREE}.DecisionTreeRegressor`]: convertDecisionTreeRegressor,
  [`${TREE}.DecisionTreeClassifier`]: convertDecisionTreeClassifier,
  [`${TREE}.ExtraTreeRegressor`]: convertDecisionTreeRegressor,
  [`${TREE}.ExtraTreeClassifier`]: convertDecisionTreeClassifier,
  [`${FOREST}.RandomForestRegressor`]: convertForestRegressor,
  [`${FOREST}.RandomForestClassifier`]: convertForestClassifier,
  [`${FOREST}.ExtraTreesRegressor`]: convertForestRegressor,
  [`${FOREST}.ExtraTreesClassifier`]: convertForestClassifier,
  [`${GB}.GradientBoostingRegressor`]: convertGradientBoostingRegressor,
  [`${GB}.GradientBoostingClassifier`]: convertGradientBoostingClassifier,
};

const describeTree: EstimatorDescriber = (e) =>
  `${shortName(e.className)}(${maxDepthOf([e]) || "not fitted"})`;

const describeForest: EstimatorDescriber = (e) => {
  const trees = sequenceItems(optionalAttr(e, "estimators_")) ?? [];
  const depth = maxDepthOf(trees);
  return `${shortName(e.className)}(${trees.length} trees${depth ? `, ${depth}` : ""})`;
};

export const TREE_DESCRIBERS: Record<string, EstimatorDescriber> = Object.fromEntries(
  Object.keys(TREE_CONVERTERS).map((name): [string, EstimatorDescriber] => [
    name,
    name.startsWith(TREE) ? describeTree : name.startsWith(GB) ? describeBoosting : describeForest,
  ]),
);

/** The Cython loss objects of scikit-learn ≥ 1.4 (GradientBoosting*._loss.closs). */
const CYTHON_LOSSES = [
  "CyHalfSquaredError",
  "CyAbsoluteError",
  "CyPinballLoss",
  "CyHuberLoss",
  "CyHalfBinomialLoss",
  "CyHalfMultinomialLoss",
  "CyExponentialLoss",
];

/**
 * Every global a pickled fitted tree model references besides numpy's arrays and builtins:
 * the estimators, the Cython Tree, the init estimators (sklearn.dummy), both generations of
 * gradient-boosting losses with their links and Cython parts (auto-pickled through
 * __pyx_unpickle_<class>), and numpy's RandomState (GradientBoosting*._rng, trees fitted
 * with random_state=RandomState(...)). Reading them builds plain data; nothing is called.
 */
export const TREE_CLASSES: ReadonlySet<string> = new Set([
  ...Object.keys(TREE_CONVERTERS),
  "sklearn.tree._tree.Tree",
  "sklearn.dummy.DummyRegressor",
  "sklearn.dummy.DummyClassifier",
  ...LOSS_CLASSES,
  "sklearn._loss.link.Interval",
  "sklearn._loss.link.IdentityLink",
  "sklearn._loss.link.LogitLink",
  "sklearn._loss.link.HalfLogitLink",
  "sklearn._loss.link.MultinomialLogit",
  ...CYTHON_LOSSES.flatMap((name) => [
    `sklearn._loss._loss.${name}`,
    `sklearn._loss._loss.__pyx_unpickle_${name}`,
  ]),
  "numpy.random._pickle.__randomstate_ctor",
  "numpy.random._pickle.__bit_generator_ctor",
  "numpy.random.mtrand.RandomState",
  "numpy.random._mt19937.MT19937",
]);
