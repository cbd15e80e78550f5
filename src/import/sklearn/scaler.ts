import { attr, describe, isNdArray, toFloat64 } from "../pickle/access.js";
import type { PyObject } from "../pickle/values.js";
import { ImportError } from "../types.js";
import { flag, stack, tensorColumn, type StageContext } from "./matrix.js";
import type { FeatureColumn, FeatureMatrix } from "./stage.js";

/**
 * StandardScaler over X: x_j -> (x_j - mean_j) / scale_j, with mean 0 when with_mean is off
 * and scale 1 when with_std is off (scale_ is None then).
 *
 * A column of values is scaled in place. An indicator column stays an indicator when its
 * transform is the identity; otherwise (x - m) / s of a one-hot column is no longer 0/1, so it
 * is materialized as its own column (cost per row grows with those columns: only a scaler
 * over one-hot output pays it).
 */
export function scalerStage(
  scaler: PyObject,
  context: StageContext,
  X: FeatureMatrix,
): FeatureMatrix {
  const width = X.features.length;
  const mean = flag(scaler, "with_mean", true) ? vector(scaler, "mean_", width) : undefined;
  const scale = flag(scaler, "with_std", true) ? vector(scaler, "scale_", width) : undefined;
  const m = (j: number) => mean?.[j] ?? 0;
  const s = (j: number) => scale?.[j] ?? 1;

  const { graph } = context;
  // Per column of X.value: the (mean, scale) applied to it in place, when one value feature owns it.
  const baseMean = new Float64Array(X.width);
  const baseScale = new Float64Array(X.width).fill(1);
  const owner = new Map<number, number>();
  const extra: number[] = [];
  const codeColumns = new Set(
    X.features.filter((f) => f.kind === "indicator").map((f) => f.column),
  );
  X.features.forEach((feature, j) => {
    if (feature.kind === "indicator") {
      if (m(j) !== 0 || s(j) !== 1) extra.push(j);
      return;
    }
    if (owner.has(feature.column) || codeColumns.has(feature.column)) {
      extra.push(j);
      return;
    }
    owner.set(feature.column, j);
    baseMean[feature.column] = m(j);
    baseScale[feature.column] = s(j);
  });

  const meanName = graph.constant("scaler_mean", "DOUBLE", [X.width], baseMean);
  const scaleName = graph.constant("scaler_scale", "DOUBLE", [X.width], baseScale);
  // Subtract, then divide, as sklearn does (not a multiplication by 1/scale).
  const centered = graph.op("Sub", [X.value, meanName], {}, { output: "x_centered" });
  const base = graph.op("Div", [centered, scaleName], {}, { output: "x_scaled" });

  const columns = [base];
  const extraColumn = new Map<number, number>();
  for (const j of extra) {
    const feature = X.features[j];
    let column = tensorColumn(graph, X.value, feature.column);
    if (feature.kind === "indicator") {
      const code = graph.constant(`code_${feature.code}`, "DOUBLE", [], [feature.code]);
      const equal = graph.op("Equal", [column, code]);
      column = graph.op("Cast", [equal], { to: { int: 11 } }, { output: `onehot_${j}` });
    }
    const mj = graph.constant(`mean_${j}`, "DOUBLE", [], [m(j)]);
    const sj = graph.constant(`scale_${j}`, "DOUBLE", [], [s(j)]);
    const scaled = graph.op(
      "Div",
      [graph.op("Sub", [column, mj]), sj],
      {},
      { output: `scaled_${j}` },
    );
    extraColumn.set(j, X.width + extraColumn.size);
    columns.push(graph.op("Unsqueeze", [scaled, context.axes()], {}, { output: `scaled_${j}_2d` }));
  }
  const features: FeatureColumn[] = X.features.map((feature, j) => {
    const moved = extraColumn.get(j);
    return moved === undefined ? feature : { kind: "value", column: moved };
  });
  return {
    value: stack(graph, columns, "x_scaled_all"),
    width: X.width + extra.length,
    features,
    names: X.names,
  };
}

function vector(scaler: PyObject, name: string, width: number): Float64Array | undefined {
  const value = attr(scaler, name);
  if (value === null) return undefined;
  if (!isNdArray(value) || toFloat64(value).length !== width) {
    throw new ImportError(
      `StandardScaler: cannot read attribute "${name}" (expected ${width} numbers, found ${describe(value)})`,
    );
  }
  return toFloat64(value);
}
