import type { GraphBuilder } from "../onnx/graph.js";
import {
  arrayAttr,
  attr,
  describe,
  isNdArray,
  optionalAttr,
  scalarNumber,
  toFloat64,
  toValues,
} from "../pickle/access.js";
import type { PyObject } from "../pickle/values.js";
import { ImportError } from "../types.js";
import { shortClass, tensorColumn } from "./matrix.js";
import type { EstimatorConverter, EstimatorDescriber, FeatureMatrix } from "./stage.js";

/**
 * Linear models on X: X @ coef_.T + intercept_ for K outputs. Value columns go through one
 * MatMul; each column of category codes adds its weights by Gather (weights[code], the code -1
 * of an unknown category reading a 0 appended last), so cost per row does not grow with the
 * number of categories. Everything in double, as sklearn computes.
 */
function decision(
  estimator: PyObject,
  graph: GraphBuilder,
  X: FeatureMatrix,
): { value: string; outputs: number } {
  const coef = arrayAttr(estimator, "coef_");
  const weights = toFloat64(coef);
  const width = X.features.length;
  const outputs = coef.shape.length === 1 ? 1 : coef.shape[0];
  if (coef.shape.length > 2 || weights.length !== outputs * width) {
    throw new ImportError(
      `${shortClass(estimator)}: coef_ has shape (${coef.shape.join(", ")}) but its input has ${width} features`,
    );
  }
  const intercept = intercepts(estimator, outputs);
  const w = (k: number, j: number) => weights[k * width + j];

  // Value features: one [width, K] matrix over X.value (rows of code columns stay 0).
  const valueWeights = new Float64Array(X.width * outputs);
  let anyValue = false;
  // Code columns: weights by code, one row per code and a last row of zeros for -1.
  const tables = new Map<number, Map<number, number>>(); // column -> code -> j
  X.features.forEach((feature, j) => {
    if (feature.kind === "value") {
      anyValue = true;
      for (let k = 0; k < outputs; k++) valueWeights[feature.column * outputs + k] += w(k, j);
    } else {
      const table = tables.get(feature.column) ?? new Map<number, number>();
      if (table.has(feature.code)) {
        throw new ImportError(
          `${shortClass(estimator)}: two one-hot columns of X share one category`,
        );
      }
      table.set(feature.code, j);
      tables.set(feature.column, table);
    }
  });

  const terms: string[] = [];
  if (anyValue) {
    const matrix = graph.constant("linear_weights", "DOUBLE", [X.width, outputs], valueWeights);
    terms.push(graph.op("MatMul", [X.value, matrix], {}, { output: "linear_values" }));
  }
  for (const [column, table] of tables) {
    const size = Math.max(...table.keys()) + 1;
    const values = new Float64Array((size + 1) * outputs);
    for (const [code, j] of table) {
      for (let k = 0; k < outputs; k++) values[code * outputs + k] = w(k, j);
    }
    const weightsName = graph.constant(
      `category_weights_${column}`,
      "DOUBLE",
      [size + 1, outputs],
      values,
    );
    const codes = graph.op(
      "Cast",
      [tensorColumn(graph, X.value, column)],
      { to: { int: 7 } },
      { output: `codes_${column}` },
    );
    // Gather reads index -1 as the last row: the zeros an unknown category gets.
    terms.push(
      graph.op(
        "Gather",
        [weightsName, codes],
        { axis: { int: 0 } },
        { output: `category_term_${column}` },
      ),
    );
  }
  let sum = graph.constant("intercept", "DOUBLE", [outputs], intercept);
  for (const term of terms) sum = graph.op("Add", [term, sum], {}, { output: "decision" });
  if (terms.length === 0) {
    throw new ImportError(`${shortClass(estimator)} has no input features`);
  }
  return { value: sum, outputs };
}

function intercepts(estimator: PyObject, outputs: number): Float64Array {
  const raw = attr(estimator, "intercept_");
  const single = scalarNumber(raw);
  if (single !== undefined && (outputs === 1 || !isNdArray(raw))) {
    return new Float64Array(outputs).fill(single);
  }
  const values = isNdArray(raw) ? toFloat64(raw) : undefined;
  if (!values || values.length !== outputs) {
    throw new ImportError(
      `${shortClass(estimator)}: cannot read attribute "intercept_" (expected ${outputs} numbers, found ${describe(raw)})`,
    );
  }
  return values;
}

/** LinearRegression, Ridge, Lasso, ElasticNet, SGDRegressor: one target. */
export const convertLinearRegressor: EstimatorConverter = (estimator, graph, X) => {
  const { value, outputs } = decision(estimator, graph, X);
  if (outputs !== 1) {
    throw new ImportError(
      `${shortClass(estimator)} predicts ${outputs} targets; mldeploy converts single-target regressors`,
    );
  }
  const axes = graph.constant("squeeze_axes", "INT64", [1], [1]);
  return {
    kind: "regressor",
    prediction: graph.op("Squeeze", [value, axes], {}, { output: "prediction_value" }),
  };
};

/**
 * LogisticRegression as its predict and predict_proba do: label = classes_[decision > 0]
 * (binary) or classes_[argmax decision] (first maximum, as numpy); probabilities by the
 * logistic function (one-vs-rest, normalized over classes) or softmax (multinomial; for two
 * classes softmax of [-d, d]).
 */
export const convertLogisticRegression: EstimatorConverter = (estimator, graph, X) => {
  const { classes, labelType } = readClasses(estimator);
  const { value: d, outputs } = decision(estimator, graph, X);
  if (!(outputs === classes.length || (outputs === 1 && classes.length === 2))) {
    throw new ImportError(
      `LogisticRegression: coef_ has ${outputs} rows for ${classes.length} classes`,
    );
  }
  const ovr = isOneVsRest(estimator, classes.length);
  let probabilities: string;
  let index: string;
  if (outputs === 1) {
    if (ovr) {
      const p = graph.op("Sigmoid", [d], {}, { output: "p_positive" });
      const one = graph.constant("one", "DOUBLE", [], [1]);
      const q = graph.op("Sub", [one, p], {}, { output: "p_negative" });
      probabilities = graph.op(
        "Concat",
        [q, p],
        { axis: { int: 1 } },
        { output: "probabilities_value" },
      );
    } else {
      const negated = graph.op("Neg", [d]);
      const both = graph.op(
        "Concat",
        [negated, d],
        { axis: { int: 1 } },
        { output: "decision_2d" },
      );
      probabilities = graph.op(
        "Softmax",
        [both],
        { axis: { int: 1 } },
        { output: "probabilities_value" },
      );
    }
    const zero = graph.constant("zero", "DOUBLE", [], [0]);
    const positive = graph.op("Greater", [d, zero]);
    const axes = graph.constant("label_axes", "INT64", [1], [1]);
    index = graph.op(
      "Squeeze",
      [graph.op("Cast", [positive], { to: { int: 7 } }), axes],
      {},
      { output: "class_index" },
    );
  } else {
    if (ovr) {
      const p = graph.op("Sigmoid", [d], {}, { output: "p_ovr" });
      const axes = graph.constant("sum_axes", "INT64", [1], [1]);
      const total = graph.op(
        "ReduceSum",
        [p, axes],
        { keepdims: { int: 1 } },
        { output: "p_total" },
      );
      probabilities = graph.op("Div", [p, total], {}, { output: "probabilities_value" });
    } else {
      probabilities = graph.op(
        "Softmax",
        [d],
        { axis: { int: 1 } },
        { output: "probabilities_value" },
      );
    }
    index = graph.op(
      "ArgMax",
      [d],
      { axis: { int: 1 }, keepdims: { int: 0 } },
      { output: "class_index" },
    );
  }
  const table =
    labelType === "STRING"
      ? graph.constant("classes", "STRING", [classes.length], classes as string[])
      : graph.constant("classes", labelType, [classes.length], classes as number[]);
  const label = graph.op("Gather", [table, index], { axis: { int: 0 } }, { output: "label_value" });
  return { kind: "classifier", label, labelType, probabilities, classes };
};

/**
 * predict_proba's choice: one-vs-rest for multi_class "ovr" (and the old "warn"), and for
 * "auto" / "deprecated" (the 1.5+ default) with two classes or the liblinear /
 * newton-cholesky solvers; multinomial otherwise.
 */
function isOneVsRest(estimator: PyObject, classCount: number): boolean {
  const multiClass = optionalAttr(estimator, "multi_class") ?? "auto";
  const solver = optionalAttr(estimator, "solver") ?? "lbfgs";
  if (multiClass === "ovr" || multiClass === "warn") return true;
  if (multiClass === "multinomial") return false;
  if (multiClass === "auto" || multiClass === "deprecated") {
    return classCount <= 2 || solver === "liblinear" || solver === "newton-cholesky";
  }
  throw new ImportError(
    `LogisticRegression: multi_class ${describe(multiClass)} is not one mldeploy knows`,
  );
}

/** A classifier's classes_ and the ONNX type of its labels. */
export function readClasses(estimator: PyObject): {
  classes: Array<string | number>;
  labelType: "INT64" | "STRING" | "DOUBLE";
} {
  const array = arrayAttr(estimator, "classes_");
  const values = toValues(array);
  if (values.every((v) => typeof v === "string"))
    return { classes: values as string[], labelType: "STRING" };
  const numbers = values.map((v) => scalarNumber(v));
  if (!numbers.every((v): v is number => v !== undefined)) {
    throw new ImportError(
      `${shortClass(estimator)}: its classes_ (${array.dtype.str}) are neither all strings nor all numbers`,
    );
  }
  const code = array.dtype.str.slice(1);
  const integral = /^[iub]/.test(code) || (code === "O" && numbers.every(Number.isSafeInteger));
  return { classes: numbers, labelType: integral ? "INT64" : "DOUBLE" };
}

export const LINEAR_CONVERTERS: Record<string, EstimatorConverter> = {
  "sklearn.linear_model._base.LinearRegression": convertLinearRegressor,
  "sklearn.linear_model._ridge.Ridge": convertLinearRegressor,
  "sklearn.linear_model._coordinate_descent.Lasso": convertLinearRegressor,
  "sklearn.linear_model._coordinate_descent.ElasticNet": convertLinearRegressor,
  "sklearn.linear_model._stochastic_gradient.SGDRegressor": convertLinearRegressor,
  "sklearn.linear_model._logistic.LogisticRegression": convertLogisticRegression,
};

export const LINEAR_DESCRIBERS: Record<string, EstimatorDescriber> = {
  "sklearn.linear_model._logistic.LogisticRegression": (estimator) => {
    const count = isNdArray(optionalAttr(estimator, "classes_"))
      ? readClasses(estimator).classes.length
      : undefined;
    return count === undefined ? "LogisticRegression" : `LogisticRegression(${count} classes)`;
  },
};
