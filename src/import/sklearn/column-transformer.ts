import {
  describe,
  isNdArray,
  isObject,
  listAttr,
  optionalAttr,
  scalarNumber,
  sequenceItems,
  shortName,
  toValues,
} from "../pickle/access.js";
import type { PyDict, PyObject, PyValue } from "../pickle/values.js";
import { ImportError } from "../types.js";
import { concatMatrices, inputNames, type StageContext } from "./matrix.js";
import type { FeatureMatrix } from "./stage.js";

/** Converts a transformer reading the named request columns (OneHotEncoder, a Pipeline…). */
export type ColumnsStage = (
  transformer: PyObject,
  context: StageContext,
  names: string[],
) => FeatureMatrix;

/**
 * ColumnTransformer as a first stage: each fitted transformer reads its columns of the
 * request, and X is their outputs side by side in transformers_ order ('drop' and empty
 * selections give nothing; 'passthrough' passes numbers through). The remainder, when any
 * column is left, is transformers_'s last entry, as sklearn stores it.
 */
export function columnTransformerStage(
  ct: PyObject,
  context: StageContext,
  columnsStage: ColumnsStage,
): FeatureMatrix {
  refuseWeights(ct);
  const all = inputNames(ct);
  const parts: FeatureMatrix[] = [];
  listAttr(ct, "transformers_").forEach((entry, i) => {
    const items = sequenceItems(entry);
    if (!items || items.length !== 3) {
      throw new ImportError(
        `ColumnTransformer: cannot read attribute "transformers_" (entry ${i} is ${describe(entry)}, not (name, transformer, columns))`,
      );
    }
    const [name, transformer, selector] = items;
    const label = typeof name === "string" ? name : String(i);
    const names = selectColumns(selector, all, label);
    if (names.length === 0 || transformer === "drop") return;
    if (transformer === "passthrough" || isIdentity(transformer)) {
      parts.push(passthrough(context, names));
      return;
    }
    if (!isObject(transformer)) {
      throw new ImportError(
        `ColumnTransformer: transformer "${label}" is ${describe(transformer)}, not an estimator, 'drop' or 'passthrough'`,
      );
    }
    parts.push(columnsStage(transformer, context, names));
  });
  return concatMatrices(context.graph, parts);
}

/** Numbers passed through as they are. */
export function passthrough(context: StageContext, names: string[]): FeatureMatrix {
  const columns = names.map((n) => context.numericColumn(n, "ColumnTransformer (passthrough)"));
  return {
    value:
      columns.length === 1
        ? columns[0]
        : context.graph.op("Concat", columns, { axis: { int: 1 } }, { output: "x_passthrough" }),
    width: columns.length,
    features: names.map((_, column) => ({ kind: "value", column })),
    names,
  };
}

/** FunctionTransformer() with no function is what 'passthrough' becomes in some versions. */
function isIdentity(value: PyValue): boolean {
  return (
    isObject(value, "FunctionTransformer") &&
    (optionalAttr(value, "func") ?? null) === null &&
    (optionalAttr(value, "inverse_func") ?? null) === null
  );
}

function refuseWeights(ct: PyObject): void {
  const weights = optionalAttr(ct, "transformer_weights");
  if (weights === undefined || weights === null) return;
  const dict = weights as PyDict;
  const allOne =
    dict.kind === "dict" && [...dict.entries.values()].every((w) => scalarNumber(w) === 1);
  if (!allOne) {
    throw new ImportError(
      "ColumnTransformer: transformer_weights are not converted by mldeploy yet",
    );
  }
}

/**
 * The request column names a selector picks: names, positions, a boolean mask or a slice,
 * as sklearn's _get_column_indices reads them (positions name feature_names_in_, or x0…).
 */
function selectColumns(selector: PyValue, all: string[] | undefined, label: string): string[] {
  const fail = (why: string) =>
    new ImportError(
      `ColumnTransformer: cannot read the columns of transformer "${label}" (${why})`,
    );
  const byPosition = (index: number): string => {
    if (!all) throw fail("positions, but the ColumnTransformer records no n_features_in_");
    const name = all[index < 0 ? all.length + index : index];
    if (name === undefined) throw fail(`position ${index} of ${all.length} columns`);
    return name;
  };
  if (typeof selector === "string") return [selector];
  if (typeof selector === "number" || typeof selector === "bigint")
    return [byPosition(Number(selector))];
  if (isObject(selector, "slice")) return sliceColumns(selector, all, fail);
  let items: PyValue[] | undefined;
  if (isObject(selector)) {
    // sklearn 1.5–1.6 keep the remainder's columns in a _RemainderColsList (a UserList).
    items = sequenceItems(selector.state.get("data")) ?? sequenceItems(selector.args[0] ?? null);
    if (!items) throw fail(`found ${describe(selector)}`);
  } else if (isNdArray(selector)) {
    items = toValues(selector);
    if (selector.dtype.str.endsWith("b1")) {
      if (!all || items.length !== all.length) throw fail("a boolean mask of the wrong length");
      return all.filter((_, i) => items?.[i] === 1 || items?.[i] === true);
    }
  } else {
    items = sequenceItems(selector);
  }
  if (!items) throw fail(`found ${describe(selector)}`);
  if (items.length > 0 && items.every((v) => typeof v === "boolean")) {
    if (!all || items.length !== all.length) throw fail("a boolean mask of the wrong length");
    return all.filter((_, i) => items?.[i] === true);
  }
  return items.map((item) => {
    if (typeof item === "string") return item;
    const index = scalarNumber(item);
    if (index === undefined) throw fail(`found ${describe(item)} among the columns`);
    return byPosition(index);
  });
}

function sliceColumns(
  slice: PyObject,
  all: string[] | undefined,
  fail: (why: string) => ImportError,
): string[] {
  if (!all) throw fail("a slice, but the ColumnTransformer records no n_features_in_");
  const args = sequenceItems(slice.args[0] ?? null) ?? slice.args;
  const [start, stop, step] = [args[0] ?? null, args[1] ?? null, args[2] ?? null];
  if (step !== null && scalarNumber(step) !== 1) throw fail("a slice with a step");
  if (typeof start === "string" || typeof stop === "string") {
    // Label slices include their end, as pandas' .loc does.
    const from = start === null ? 0 : all.indexOf(String(start));
    const to = stop === null ? all.length : all.indexOf(String(stop)) + 1;
    if (from < 0 || to <= 0) throw fail(`a slice naming a column not in ${all.join(", ")}`);
    return all.slice(from, to);
  }
  return all.slice(
    scalarNumber(start ?? undefined) ?? 0,
    scalarNumber(stop ?? undefined) ?? all.length,
  );
}

export const describeColumnTransformer = (ct: PyObject): string => {
  const inner = listAttr(ct, "transformers_")
    .map((entry) => sequenceItems(entry)?.[1])
    .filter((t): t is PyObject => isObject(t) && !isIdentity(t))
    .map((t) => shortName(t.className));
  return `ColumnTransformer(${[...new Set(inner)].join(", ")})`;
};
