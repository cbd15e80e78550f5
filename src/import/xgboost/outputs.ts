import type { GraphBuilder } from "../onnx/graph.js";
import type { EstimatorOutputs } from "../sklearn/stage.js";
import { ImportError } from "../types.js";
import { outputGroups, type XgbModel } from "./model.js";
import { objectiveOf } from "./objectives.js";

/**
 * The objective's transformation of the margins [N, groups] FLOAT into what Python returns,
 * in double (the float32 margins transformed exactly: XGBoost's own float32 sigmoid / exp /
 * softmax differ from it by at most about one float32 rounding, ~6e-8 relative).
 *
 * - a regressor: prediction [N] (identity, exp for the log-link objectives, sigmoid for
 *   reg:logistic), as Booster.predict / XGBRegressor.predict;
 * - a binary classifier: p = sigmoid(margin) (binary:logitraw: the margin itself, as
 *   XGBClassifier does), probabilities [1 - p, p], label = classes[p > 0.5] (XGBClassifier.predict);
 * - a multi-class one: probabilities softmax(margins), label = classes[argmax(margins)]
 *   (the first maximum, as numpy's argmax).
 */
export function objectiveOutputs(
  graph: GraphBuilder,
  model: XgbModel,
  margin: string,
  options: { classifier: boolean; classes?: Array<string | number>; source: string },
): EstimatorOutputs {
  const objective = objectiveOf(model.objective, options.source);
  const groups = outputGroups(model);
  const marginDouble = graph.op("Cast", [margin], { to: { int: 11 } }, { output: "margin_double" });

  if (groups === 1) {
    const flat = graph.constant("flat_shape", "INT64", [1], [-1]);
    const m = graph.op("Reshape", [marginDouble, flat], {}, { output: "margin_flat" });
    const value =
      objective.transform === "sigmoid"
        ? graph.op("Sigmoid", [m])
        : objective.transform === "exp"
          ? graph.op("Exp", [m])
          : m;
    if (!options.classifier) return { kind: "regressor", prediction: value };
    const classes = checkClasses(options.classes ?? [0, 1], 2, options.source);
    const one = graph.constant("one", "DOUBLE", [], [1]);
    const half = graph.constant("half", "DOUBLE", [], [0.5]);
    const axes = graph.constant("column_axes", "INT64", [1], [1]);
    const p1 = graph.op("Unsqueeze", [value, axes], {}, { output: "p_class1" });
    const p0 = graph.op("Sub", [one, p1], {}, { output: "p_class0" });
    const probabilities = graph.op(
      "Concat",
      [p0, p1],
      { axis: { int: 1 } },
      { output: "probabilities" },
    );
    const index = graph.op(
      "Cast",
      [graph.op("Greater", [value, half])],
      { to: { int: 7 } },
      { output: "label_index" },
    );
    return { kind: "classifier", probabilities, classes, ...labelOf(graph, index, classes) };
  }

  if (!options.classifier || objective.transform !== "softmax") {
    throw new ImportError(
      `${options.source}: ${groups} output groups with objective "${model.objective}" is not a layout mldeploy reads`,
    );
  }
  const classes = checkClasses(
    options.classes ?? Array.from({ length: groups }, (_, i) => i),
    groups,
    options.source,
  );
  const probabilities = graph.op(
    "Softmax",
    [marginDouble],
    { axis: { int: 1 } },
    { output: "probabilities" },
  );
  const index = graph.op(
    "ArgMax",
    [margin],
    { axis: { int: 1 }, keepdims: { int: 0 } },
    { output: "label_index" },
  );
  return { kind: "classifier", probabilities, classes, ...labelOf(graph, index, classes) };
}

function checkClasses(
  classes: Array<string | number>,
  expected: number,
  source: string,
): Array<string | number> {
  if (classes.length !== expected) {
    throw new ImportError(
      `${source}: ${classes.length} classes for a model with ${expected} class outputs`,
    );
  }
  return classes;
}

/** classes[index]: the index itself when the classes are 0…n-1, else a Gather of them. */
function labelOf(
  graph: GraphBuilder,
  index: string,
  classes: Array<string | number>,
): { label: string; labelType: "INT64" | "STRING" | "DOUBLE" } {
  if (classes.every((c, i) => c === i)) return { label: index, labelType: "INT64" };
  if (classes.every((c) => typeof c === "string")) {
    const table = graph.constant("classes", "STRING", [classes.length], classes as string[]);
    return {
      label: graph.op("Gather", [table, index], {}, { output: "label" }),
      labelType: "STRING",
    };
  }
  if (classes.some((c) => typeof c === "string")) {
    // Mixed types cannot be one ONNX tensor: use their text, as numpy's str() prints them.
    const table = graph.constant("classes", "STRING", [classes.length], classes.map(String));
    return {
      label: graph.op("Gather", [table, index], {}, { output: "label" }),
      labelType: "STRING",
    };
  }
  const numbers = classes as number[];
  const integral = numbers.every((c) => Number.isSafeInteger(c));
  const table = graph.constant("classes", integral ? "INT64" : "DOUBLE", [numbers.length], numbers);
  return {
    label: graph.op("Gather", [table, index], {}, { output: "label" }),
    labelType: integral ? "INT64" : "DOUBLE",
  };
}
