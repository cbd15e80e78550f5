import type { GraphBuilder } from "../onnx/graph.js";
import {
  attr,
  describe,
  isNdArray,
  isObject,
  optionalAttr,
  scalarNumber,
  shortName,
  toValues,
} from "../pickle/access.js";
import type { PyObject, PyValue } from "../pickle/values.js";
import type {
  EstimatorConverter,
  EstimatorDescriber,
  EstimatorOutputs,
  FeatureMatrix,
} from "../sklearn/stage.js";
import { ImportError } from "../types.js";
import { describeModel } from "./convert.js";
import { treeMargins } from "./ensemble.js";
import type { XgbModel } from "./model.js";
import { objectiveOf } from "./objectives.js";
import { objectiveOutputs } from "./outputs.js";
import { readXgboostModel } from "./read.js";

const REGRESSORS = ["xgboost.sklearn.XGBRegressor", "xgboost.sklearn.XGBRFRegressor"];
const CLASSIFIERS = ["xgboost.sklearn.XGBClassifier", "xgboost.sklearn.XGBRFClassifier"];
const BOOSTER = "xgboost.core.Booster";

/**
 * The globals a pickled XGBoost scikit-learn wrapper references beyond numpy's (checked with
 * pickletools on XGBoost 1.7 pickles, protocols 2–5 and joblib): the wrapper class and
 * xgboost.core.Booster, whose state holds the model as a bytearray (`builtins.bytearray`,
 * `_codecs.encode` in protocol 2 — the pickle reader's own builtins).
 */
export const XGBOOST_CLASSES: ReadonlySet<string> = new Set([
  ...REGRESSORS,
  ...CLASSIFIERS,
  BOOSTER,
]);

/**
 * How the stage before XGBoost handed X over. scikit-learn gives XGBoost a scipy sparse
 * matrix after DictVectorizer(sparse=True) (its default), OneHotEncoder(sparse=True) or a
 * ColumnTransformer whose output is sparse; XGBoost treats an entry the matrix does not store
 * as MISSING (the default direction), not as 0. A stage that knows sets these on its
 * FeatureMatrix; XGBoost converters refuse one-hot input when it is not said.
 */
export interface SparseFeatureMatrix extends FeatureMatrix {
  /** X was a scipy sparse matrix: a one-hot 0 is not stored, so it is missing. */
  sparse?: boolean;
  /** …and numeric zeros were not stored either (made sparse from dense, e.g. by hstack). */
  zerosAbsent?: boolean;
}

/** Converters for pickled XGBRegressor / XGBClassifier (and their random-forest variants). */
export const XGBOOST_CONVERTERS: Record<string, EstimatorConverter> = Object.fromEntries([
  ...REGRESSORS.map((name) => [name, convertWrapper]),
  ...CLASSIFIERS.map((name) => [name, convertWrapper]),
]);

export const XGBOOST_DESCRIBERS: Record<string, EstimatorDescriber> = Object.fromEntries(
  [...REGRESSORS, ...CLASSIFIERS].map((name) => [
    name,
    (estimator: PyObject) => {
      const { model } = boosterModel(estimator);
      const inner = describeModel(model).replace(/^XGBoost Booster/, "");
      return `${shortName(estimator.className)}${inner}`;
    },
  ]),
);

function convertWrapper(
  estimator: PyObject,
  graph: GraphBuilder,
  X: SparseFeatureMatrix,
): EstimatorOutputs {
  const name = shortName(estimator.className);
  const { model, booster } = boosterModel(estimator);
  const objective = objectiveOf(model.objective, name);
  if (X.features.length !== model.numFeature) {
    throw new ImportError(
      `${name}: the booster has ${model.numFeature} features but the stages before it give ` +
        `${X.features.length}`,
    );
  }
  if (X.sparse === undefined && X.features.some((f) => f.kind === "indicator")) {
    throw new ImportError(
      `${name}: after a one-hot stage, XGBoost treats the zeros of a sparse matrix as missing ` +
        "and of a dense one as 0; the stage before it does not say which it gave, so the " +
        "predictions cannot be reproduced",
    );
  }
  const missingValue = scalarNumber(optionalAttr(estimator, "missing") ?? Number.NaN);
  if (missingValue === undefined) {
    throw new ImportError(
      `${name}: cannot read attribute "missing" (${describe(optionalAttr(estimator, "missing"))})`,
    );
  }
  const margin = treeMargins(
    graph,
    model,
    {
      value: X.value,
      width: X.width,
      features: X.features,
      absentIsMissing: X.sparse === true,
      zerosAbsent: X.sparse === true && X.zerosAbsent === true,
      missing: Number.isNaN(missingValue) ? undefined : missingValue,
    },
    name,
    { rounds: bestRounds(booster, model), inplace: true },
  );

  if (REGRESSORS.includes(estimator.className)) {
    if (objective.classifier) {
      throw new ImportError(`${name}: objective "${model.objective}" is a classifier's`);
    }
    return objectiveOutputs(graph, model, margin, { classifier: false, source: name });
  }
  const classes = classesOf(estimator, model);
  return objectiveOutputs(graph, model, margin, { classifier: true, classes, source: name });
}

/** The booster the wrapper holds (`_Booster`) and the model in its pickled snapshot. */
function boosterModel(estimator: PyObject): { model: XgbModel; booster: PyObject } {
  const name = shortName(estimator.className);
  const booster = attr(estimator, "_Booster");
  if (!isObject(booster, BOOSTER)) {
    throw new ImportError(
      `${name}: cannot read attribute "_Booster" (expected an xgboost Booster, found ${describe(booster)})`,
    );
  }
  return {
    model: readXgboostModel(xgboostBoosterBytes(booster, name), `${name}'s booster`),
    booster,
  };
}

/**
 * The model bytes a pickled xgboost.core.Booster holds (Booster.__getstate__ puts
 * XGBoosterSerializeToBuffer's snapshot in "handle"): give them to convertXgboostModel when
 * a pickle holds a bare Booster.
 */
export function xgboostBoosterBytes(booster: PyObject, owner = "Booster"): Uint8Array {
  const handle = booster.state.get("handle");
  const bytes = bytesOf(handle);
  if (!bytes) {
    throw new ImportError(
      `${owner}: the pickled Booster holds no model (its "handle" is ${describe(handle)}); ` +
        "was it fitted?",
    );
  }
  return bytes;
}

/** bytes / bytearray as the pickle reader gives them. */
function bytesOf(value: PyValue | undefined): Uint8Array | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  if (value.kind === "bytes") return value.data;
  // A reader that keeps bytearray(b"…") as a call result: its first argument is the bytes.
  if (value.kind === "object" && value.args.length > 0) return bytesOf(value.args[0]);
  return undefined;
}

/**
 * The rounds XGBRegressor/XGBClassifier.predict use: trees of rounds 0…best_iteration
 * (XGBModel._get_iteration_range). XGBoost 1.7 keeps best_iteration on the Python Booster
 * (pickled in its state); 2.x reads it from the learner's attributes.
 */
function bestRounds(booster: PyObject, model: XgbModel): number | undefined {
  const fromState = scalarNumber(booster.state.get("best_iteration"));
  const fromAttributes = model.attributes.best_iteration;
  const best = fromState ?? (fromAttributes !== undefined ? Number(fromAttributes) : undefined);
  if (best === undefined || !Number.isSafeInteger(best) || best < 0) return undefined;
  return best + 1;
}

/**
 * classes_ (1.7: np.unique(y), which must be 0…n-1; older pickles may lack it). The label is
 * what XGBClassifier.predict returns: the column index (it does not map back through classes_
 * unless a LabelEncoder `_le` was kept, as before 1.6).
 */
function classesOf(estimator: PyObject, model: XgbModel): Array<string | number> {
  const name = shortName(estimator.className);
  const n = Math.max(2, model.numClass);
  const raw = optionalAttr(estimator, "classes_");
  let classes: Array<string | number> = Array.from({ length: n }, (_, i) => i);
  if (raw !== undefined && raw !== null) {
    if (!isNdArray(raw)) {
      throw new ImportError(
        `${name}: cannot read attribute "classes_" (expected a numpy array, found ${describe(raw)})`,
      );
    }
    classes = toValues(raw).map((v) => {
      if (typeof v === "string" || typeof v === "number") return v;
      if (typeof v === "bigint") return Number(v);
      throw new ImportError(`${name}: a class in "classes_" is ${describe(v)}`);
    });
  }
  if (classes.length !== n) {
    throw new ImportError(
      `${name}: classes_ has ${classes.length} classes but the booster has ${n} class outputs`,
    );
  }
  if (optionalAttr(estimator, "_le") !== undefined) return classes;
  // Without a label encoder predict returns the index: report the classes as those indices
  // when they are (the usual 0…n-1), else keep them (the probability columns' order).
  return classes.every((c, i) => Number(c) === i) ? classes.map((_, i) => i) : classes;
}
