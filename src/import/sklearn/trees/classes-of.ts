import { attr, isNdArray, shortName, toValues } from "../../pickle/access.js";
import type { PyObject } from "../../pickle/values.js";
import type { GraphBuilder } from "../../onnx/graph.js";
import { ImportError } from "../../types.js";
import type { EstimatorOutputs } from "../stage.js";

/** A classifier's classes_ and the ONNX type its labels take. */
export interface Classes {
  values: Array<string | number>;
  type: "INT64" | "STRING" | "DOUBLE";
}

/** classes_ of a single-output classifier: ints → INT64, strings → STRING, floats → DOUBLE. */
export function readClasses(estimator: PyObject): Classes {
  const owner = shortName(estimator.className);
  const value = attr(estimator, "classes_");
  if (!isNdArray(value) || value.shape.length !== 1) {
    throw new ImportError(
      `${owner}: classes_ is not a 1-D array; multi-output classifiers are not supported`,
    );
  }
  const items = toValues(value);
  if (items.every((v) => typeof v === "string")) {
    return { values: items as string[], type: "STRING" };
  }
  const numbers = items.map((v) =>
    typeof v === "bigint" ? Number(v) : typeof v === "boolean" ? Number(v) : v,
  );
  if (!numbers.every((v): v is number => typeof v === "number")) {
    throw new ImportError(`${owner}: classes_ mixes strings and numbers, which mldeploy refuses`);
  }
  const integral = /^[<>|=]?[iub]/.test(value.dtype.str) || value.dtype.str === "|O";
  return {
    values: numbers,
    type: integral && numbers.every((v) => Number.isSafeInteger(v)) ? "INT64" : "DOUBLE",
  };
}

/**
 * The classifier's outputs from its [N, C] probabilities: label = classes_[argmax] (the first
 * maximum, as numpy.argmax), or from a given class index.
 */
export function classifierOutputs(
  graph: GraphBuilder,
  classes: Classes,
  probabilities: string,
  classIndex?: string,
): EstimatorOutputs {
  const index =
    classIndex ??
    graph.op(
      "ArgMax",
      [probabilities],
      { axis: { int: 1 }, keepdims: { int: 0 }, select_last_index: { int: 0 } },
      { output: "class_index" },
    );
  const table = graph.constant(
    "classes",
    classes.type,
    [classes.values.length],
    classes.type === "STRING" ? (classes.values as string[]) : (classes.values as number[]),
  );
  const label = graph.op("Gather", [table, index], { axis: { int: 0 } }, { output: "label" });
  return {
    kind: "classifier",
    label,
    labelType: classes.type,
    probabilities,
    classes: classes.values,
  };
}
