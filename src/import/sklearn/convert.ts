import type { ColumnSpec } from "../../model/types.js";
import { GraphBuilder } from "../onnx/graph.js";
import { RefusedGlobalError } from "../pickle/errors.js";
import { readPickle } from "../pickle/read.js";
import { describe, isObject, listAttr, sequenceItems, shortName } from "../pickle/access.js";
import type { PyObject, PyValue } from "../pickle/values.js";
import { ImportError, type ConvertedModel } from "../types.js";
import {
  columnTransformerStage,
  describeColumnTransformer,
  passthrough,
} from "./column-transformer.js";
import { dictVectorizerStage } from "./dict-vectorizer.js";
import { LINEAR_CONVERTERS, LINEAR_DESCRIBERS } from "./linear.js";
import { flag, inputNames, StageContext } from "./matrix.js";
import { oneHotStage } from "./one-hot.js";
import { scalerStage } from "./scaler.js";
import type { EstimatorConverter, EstimatorDescriber, FeatureMatrix } from "./stage.js";

// ---- Estimators converted by other modules: one import each -------------------------------
import { TREE_CLASSES, TREE_CONVERTERS, TREE_DESCRIBERS } from "./trees/index.js";
import {
  XGBOOST_CLASSES,
  XGBOOST_CONVERTERS,
  XGBOOST_DESCRIBERS,
  type SparseFeatureMatrix,
} from "../xgboost/sklearn.js";
// --------------------------------------------------------------------------------------------

const PIPELINE = "sklearn.pipeline.Pipeline";
const DICT_VECTORIZER = "sklearn.feature_extraction._dict_vectorizer.DictVectorizer";
const ONE_HOT = "sklearn.preprocessing._encoders.OneHotEncoder";
const STANDARD_SCALER = "sklearn.preprocessing._data.StandardScaler";
const COLUMN_TRANSFORMER = "sklearn.compose._column_transformer.ColumnTransformer";
const FUNCTION_TRANSFORMER = "sklearn.preprocessing._function_transformer.FunctionTransformer";
/** sklearn 1.5–1.6 keep a ColumnTransformer's remainder columns in this list subclass. */
const REMAINDER_COLS_LIST = "sklearn.compose._column_transformer._RemainderColsList";

/** Final estimators by the qualified class name pickle gives them. */
const ESTIMATORS: Record<string, EstimatorConverter> = {
  ...LINEAR_CONVERTERS,
  ...TREE_CONVERTERS,
  ...XGBOOST_CONVERTERS,
};
const DESCRIBERS: Record<string, EstimatorDescriber> = {
  ...LINEAR_DESCRIBERS,
  ...TREE_DESCRIBERS,
  ...XGBOOST_DESCRIBERS,
};

const TRANSFORMERS = [DICT_VECTORIZER, ONE_HOT, STANDARD_SCALER, COLUMN_TRANSFORMER];

/** Short names of everything convertSklearn reads, for "supported are: …" messages. */
export const SUPPORTED_ESTIMATORS: string[] = [
  ...new Set([PIPELINE, ...TRANSFORMERS, ...Object.keys(ESTIMATORS)].map(shortName)),
];

/**
 * Every class a pickled model of the supported kinds names, for the pickle reader's
 * allow-list (numpy's and builtins' own are the reader's). The module paths are the same
 * across scikit-learn 1.0–1.6 for these classes.
 */
export const SKLEARN_CLASSES: ReadonlySet<string> = new Set([
  PIPELINE,
  ...TRANSFORMERS,
  FUNCTION_TRANSFORMER,
  REMAINDER_COLS_LIST,
  ...Object.keys(ESTIMATORS),
  ...TREE_CLASSES,
  ...XGBOOST_CLASSES,
]);

/**
 * Reads a pickle or joblib file of a scikit-learn model with the reader's allow-list set to
 * SKLEARN_CLASSES. A scikit-learn (or XGBoost) class outside the list is refused, before
 * anything is built, with the message naming it and listing what is supported.
 */
export function readSklearnPickle(bytes: Uint8Array, options: { source?: string } = {}): PyValue {
  try {
    return readPickle(bytes, { allowedClasses: SKLEARN_CLASSES, source: options.source });
  } catch (error) {
    if (error instanceof RefusedGlobalError && /^(sklearn|xgboost)(\.|$)/.test(error.module)) {
      throw new ImportError(
        `${options.source ?? "pickle"}: ${error.qualifiedName} is not supported by mldeploy; ` +
          `supported are: ${SUPPORTED_ESTIMATORS.join(", ")}`,
      );
    }
    throw error;
  }
}

/**
 * Compiles a fitted scikit-learn model to one ONNX graph: a Pipeline, a bare estimator, or a
 * tuple / list of estimators applied in order (the original service pickled `(dv, lr)`).
 * The first stage reads named request columns; the last is the estimator.
 */
export function convertSklearn(root: PyValue, options: { name?: string } = {}): ConvertedModel {
  const { steps, label } = flatten(root);
  const estimator = steps[steps.length - 1];
  const convert = ESTIMATORS[estimator.className];
  if (!convert)
    throw unsupported(
      estimator,
      isTransformer(estimator) ? "a transformer, not a model" : undefined,
    );

  const graph = new GraphBuilder("sklearn");
  const context = new StageContext(graph);
  const X = buildMatrix(steps.slice(0, -1), estimator, context);
  const result = convert(estimator, graph, X);

  const outputs: ColumnSpec[] = [];
  if (result.kind === "regressor") {
    const name = options.name ?? "prediction";
    graph.output(result.prediction, name, "DOUBLE");
    outputs.push({ name, type: "double" });
  } else {
    const name = options.name ?? "label";
    graph.output(result.label, name, result.labelType);
    graph.output(result.probabilities, "probabilities", "DOUBLE", ["N", result.classes.length]);
    outputs.push(
      { name, type: columnType(result.labelType) },
      { name: "probabilities", type: "double" },
    );
  }
  const description =
    label === "" && steps.length === 1
      ? describeStep(estimator)
      : `${label}(${steps.map(describeStep).join(", ")})`;
  const version = steps
    .map((s) => s.state.get("_sklearn_version"))
    .find((v) => typeof v === "string");
  return {
    onnx: graph.build({ docString: `converted from scikit-learn ${description}` }),
    inputs: context.inputSpecs(),
    outputs,
    kind: result.kind,
    ...(result.kind === "classifier" ? { classes: result.classes } : {}),
    estimator: description,
    library: { name: "scikit-learn", ...(typeof version === "string" ? { version } : {}) },
  };
}

/** The steps a model applies in order, and the container's name ("Pipeline", "" for a tuple). */
function flatten(root: PyValue): { steps: PyObject[]; label: string } {
  const tuple = sequenceItems(root);
  if (tuple) {
    const steps = tuple.flatMap((item) => flatten(item).steps);
    if (steps.length === 0) throw new ImportError("the pickle holds an empty tuple, not a model");
    return { steps, label: "" };
  }
  if (!isObject(root)) {
    throw new ImportError(`the pickle holds ${describe(root)}, not a scikit-learn model`);
  }
  if (root.className !== PIPELINE) return { steps: [root], label: "" };
  const steps = listAttr(root, "steps").flatMap((entry, i) => {
    const pair = sequenceItems(entry);
    const step = pair?.[1];
    if (step === "passthrough" || step === null) return [];
    if (!isObject(step)) {
      throw new ImportError(
        `Pipeline: cannot read attribute "steps" (step ${i} is ${describe(step)}, not an estimator)`,
      );
    }
    return flatten(step).steps;
  });
  if (steps.length === 0) throw new ImportError("Pipeline has no steps");
  return { steps, label: "Pipeline" };
}

/** X for the estimator: the first transformer reads the request, later ones read X. */
function buildMatrix(
  transformers: PyObject[],
  estimator: PyObject,
  context: StageContext,
): SparseFeatureMatrix {
  const [first, ...rest] = transformers;
  let X: SparseFeatureMatrix;
  // Whether sklearn handed X over as a scipy sparse matrix matters to XGBoost, for which an
  // entry not stored is missing: DictVectorizer and OneHotEncoder are sparse by default (and
  // store every value given, zeros included); a sparse ColumnTransformer output is hstacked
  // from its parts, which drops the zeros of its dense parts.
  if (!first) {
    X = numericInputs(estimator, context);
  } else if (first.className === DICT_VECTORIZER) {
    X = { ...dictVectorizerStage(first, context), sparse: flag(first, "sparse", true) };
  } else if (first.className === COLUMN_TRANSFORMER) {
    const sparse = flag(first, "sparse_output_", false);
    X = { ...columnTransformerStage(first, context, columnsStage), sparse, zerosAbsent: sparse };
  } else if (first.className === ONE_HOT) {
    X = { ...oneHotStage(first, context, namesOf(first)), sparse: oneHotSparse(first) };
  } else {
    X = matrixStage(first, context, numericInputs(first, context));
  }
  for (const step of rest) {
    // A scaler keeps a sparse matrix sparse (it cannot center one) and its zeros absent.
    X = { ...matrixStage(step, context, X), sparse: X.sparse, zerosAbsent: X.zerosAbsent };
  }
  return X;
}

/** OneHotEncoder's output type: sparse_output (1.2+), else sparse (before), default sparse. */
function oneHotSparse(encoder: PyObject): boolean {
  const modern = encoder.state.get("sparse_output");
  if (typeof modern === "boolean") return modern;
  const old = encoder.state.get("sparse");
  return typeof old === "boolean" ? old : true;
}

/** A transformer that reads X (a later pipeline step). */
function matrixStage(step: PyObject, context: StageContext, X: FeatureMatrix): FeatureMatrix {
  if (step.className === STANDARD_SCALER) return scalerStage(step, context, X);
  if (isObject(step, "FunctionTransformer") && (step.state.get("func") ?? null) === null) return X;
  throw unsupported(
    step,
    TRANSFORMERS.includes(step.className) ? "only as a pipeline's first step" : undefined,
  );
}

/** A transformer inside a ColumnTransformer, reading the named request columns. */
function columnsStage(
  transformer: PyObject,
  context: StageContext,
  names: string[],
): FeatureMatrix {
  switch (transformer.className) {
    case ONE_HOT:
      return oneHotStage(transformer, context, names);
    case STANDARD_SCALER:
      return scalerStage(transformer, context, passthrough(context, names));
    case PIPELINE: {
      const [first, ...rest] = flatten(transformer).steps;
      let X = columnsStage(first, context, names);
      for (const step of rest) X = matrixStage(step, context, X);
      return X;
    }
    default:
      throw unsupported(transformer, "inside a ColumnTransformer");
  }
}

/** The request columns of an estimator fitted on a plain matrix: one number column each. */
function numericInputs(estimator: PyObject, context: StageContext): FeatureMatrix {
  return passthrough(context, namesOf(estimator));
}

function namesOf(estimator: PyObject): string[] {
  const names = inputNames(estimator);
  if (!names) {
    throw new ImportError(
      `${shortName(estimator.className)} records neither feature_names_in_ nor n_features_in_ ` +
        `(fitted by scikit-learn before 1.0?), so the columns it reads are unknown`,
    );
  }
  return names;
}

function isTransformer(step: PyObject): boolean {
  return TRANSFORMERS.includes(step.className) || step.className === FUNCTION_TRANSFORMER;
}

function unsupported(step: PyObject, where?: string): ImportError {
  const what = where ? `${step.className} (${where})` : step.className;
  return new ImportError(
    `${what} is not supported by mldeploy; supported are: ${SUPPORTED_ESTIMATORS.join(", ")}`,
  );
}

function describeStep(step: PyObject): string {
  if (step.className === COLUMN_TRANSFORMER) return describeColumnTransformer(step);
  return DESCRIBERS[step.className]?.(step) ?? shortName(step.className);
}

function columnType(type: "INT64" | "STRING" | "DOUBLE"): ColumnSpec["type"] {
  return type === "INT64" ? "long" : type === "STRING" ? "string" : "double";
}
