import type { ColumnSpec } from "../../model/types.js";
import { GraphBuilder } from "../onnx/graph.js";
import { matrixFromInputs, type EstimatorOutputs } from "../sklearn/stage.js";
import { ImportError, type ConvertedModel } from "../types.js";
import { treeMargins } from "./ensemble.js";
import type { XgbModel } from "./model.js";
import { objectiveOf } from "./objectives.js";
import { objectiveOutputs } from "./outputs.js";
import { detectFormat, readXgboostModel } from "./read.js";
import { parseJsonText } from "./ubjson.js";

export interface XgboostOptions {
  /** Input column names, one per model feature; default the model's feature_names, else f0…. */
  featureNames?: string[];
  /** Names the file in errors. */
  source?: string;
}

/**
 * An XGBoost model file (JSON, UBJSON, the legacy binary format, or a Booster's pickled
 * snapshot) as an ONNX graph taking one DOUBLE column per feature. Regression objectives give
 * `prediction` [N] double; binary:logistic and multi:* give `label` [N] int64 and
 * `probabilities` [N, classes] double; binary:logitraw gives its raw margin as `prediction`,
 * as Booster.predict does.
 */
export function convertXgboostModel(
  bytes: Uint8Array,
  options: XgboostOptions = {},
): ConvertedModel {
  const source = options.source ?? "XGBoost model";
  const model = readXgboostModel(bytes, source);
  const objective = objectiveOf(model.objective, source);
  const names = inputNames(model, options.featureNames, source);

  const graph = new GraphBuilder("xgboost");
  const X = matrixFromInputs(graph, names);
  const wrapper = wrapperMeta(model, source);
  const margin = treeMargins(
    graph,
    model,
    { value: X.value, width: X.width, features: X.features, missing: wrapper?.missing },
    source,
    // XGBModel.predict goes through inplace_predict; Booster.predict through a DMatrix.
    { rounds: wrapper?.rounds, inplace: wrapper !== undefined },
  );
  const outputs = objectiveOutputs(graph, model, margin, {
    classifier: wrapper
      ? wrapper.classifier
      : objective.classifier && model.objective !== "binary:logitraw",
    classes: wrapper?.classes,
    source,
  });
  const description = describeModel(model, detectFormat(bytes));
  return finishGraph(graph, outputs, names, description, model);
}

/**
 * A model file written by XGBRegressor/XGBClassifier.save_model (as mlflow.xgboost saves a
 * scikit-learn wrapper) carries the wrapper's parameters in the "scikit_learn" attribute
 * (xgboost/sklearn.py XGBModel.save_model); XGBModel.load_model restores them and its predict
 * then uses rounds 0…best_iteration, the wrapper's `missing` and, for a classifier, labels.
 */
function wrapperMeta(
  model: XgbModel,
  source: string,
):
  | { classifier: boolean; rounds?: number; missing?: number; classes?: Array<string | number> }
  | undefined {
  const text = model.attributes.scikit_learn;
  if (text === undefined) return undefined;
  const meta = parseJsonText(new TextEncoder().encode(text), `${source} (scikit_learn attribute)`);
  if (typeof meta !== "object" || meta === null || Array.isArray(meta)) {
    throw new ImportError(`${source}: the "scikit_learn" attribute is not a JSON object`);
  }
  const best = model.attributes.best_iteration;
  const rounds = best !== undefined && /^\d+$/.test(best) ? Number(best) + 1 : undefined;
  const missing =
    typeof meta.missing === "number" && !Number.isNaN(meta.missing) ? meta.missing : undefined;
  const classifier = meta._estimator_type === "classifier";
  let classes: Array<string | number> | undefined;
  if (classifier && Array.isArray(meta.classes_) && meta._le === undefined) {
    const values = meta.classes_.filter((c): c is number => typeof c === "number");
    // predict returns the column index; report the classes as those indices when they are.
    if (values.length === meta.classes_.length && values.every((c, i) => c === i)) classes = values;
  }
  return { classifier, rounds, missing, classes };
}

/** Writes the outputs and serializes the graph as a ConvertedModel. */
export function finishGraph(
  graph: GraphBuilder,
  outputs: EstimatorOutputs,
  names: string[],
  description: string,
  model: XgbModel,
): ConvertedModel {
  const inputs: ColumnSpec[] = names.map((name) => ({ name, type: "double" }));
  let columns: ColumnSpec[];
  if (outputs.kind === "regressor") {
    graph.output(outputs.prediction, "prediction", "DOUBLE", ["N"]);
    columns = [{ name: "prediction", type: "double" }];
  } else {
    graph.output(outputs.label, "label", outputs.labelType, ["N"]);
    graph.output(outputs.probabilities, "probabilities", "DOUBLE", ["N", outputs.classes.length]);
    columns = [
      { name: "label", type: columnType(outputs.labelType) },
      { name: "probabilities", type: "double" },
    ];
  }
  const version = model.version?.join(".");
  return {
    onnx: graph.build({
      docString: description,
      metadata: { source_library: "xgboost", ...(version ? { xgboost_version: version } : {}) },
    }),
    inputs,
    outputs: columns,
    kind: outputs.kind,
    ...(outputs.kind === "classifier" ? { classes: outputs.classes } : {}),
    estimator: description,
    library: { name: "xgboost", ...(version ? { version } : {}) },
  };
}

function columnType(type: "INT64" | "STRING" | "DOUBLE"): ColumnSpec["type"] {
  return type === "INT64" ? "long" : type === "STRING" ? "string" : "double";
}

const OUTPUT_NAMES = new Set(["prediction", "label", "probabilities"]);

function inputNames(model: XgbModel, given: string[] | undefined, source: string): string[] {
  const names =
    given ?? model.featureNames ?? Array.from({ length: model.numFeature }, (_, i) => `f${i}`);
  if (names.length !== model.numFeature) {
    throw new ImportError(
      `${source}: ${names.length} feature names for a model with ${model.numFeature} features`,
    );
  }
  const seen = new Set<string>();
  for (const name of names) {
    if (name === "" || seen.has(name) || OUTPUT_NAMES.has(name)) {
      throw new ImportError(
        `${source}: feature name "${name}" is empty, repeated or an output's name`,
      );
    }
    seen.add(name);
  }
  return names;
}

/** e.g. "XGBoost Booster(gbtree, binary:logistic, 100 trees, 3 features; JSON)". */
export function describeModel(model: XgbModel, format?: string): string {
  const parts = [
    model.booster,
    model.objective,
    `${model.trees.length} trees`,
    ...(model.numClass > 1 ? [`${model.numClass} classes`] : []),
    `${model.numFeature} features`,
  ];
  return `XGBoost Booster(${parts.join(", ")}${format ? `; ${formatName(format)}` : ""})`;
}

function formatName(format: string): string {
  return (
    { json: "JSON", ubjson: "UBJSON", binary: "legacy binary", "config-offset": "1.0 snapshot" }[
      format
    ] ?? format
  );
}
