import {
  describe,
  isNdArray,
  listAttr,
  optionalAttr,
  scalarNumber,
  sequenceItems,
  toValues,
} from "../pickle/access.js";
import type { NdArray, PyObject, PyValue } from "../pickle/values.js";
import { ImportError } from "../types.js";
import { flag, stack, type StageContext } from "./matrix.js";
import type { FeatureColumn, FeatureMatrix } from "./stage.js";

/**
 * OneHotEncoder on request columns. Each column becomes one column of category codes and its
 * one-hot columns stay indicators (code c <=> category c). Categories that produce no column
 * (the one `drop` removes) and unknown values both get code -1: every one-hot column of that
 * feature is 0, which is what sklearn outputs for both.
 *
 * handle_unknown="error" makes sklearn raise on an unseen category; an ONNX graph cannot
 * raise, so the converted model answers as "ignore" does (all zeros for that feature).
 */
export function oneHotStage(
  encoder: PyObject,
  context: StageContext,
  names: string[],
): FeatureMatrix {
  const categories = listAttr(encoder, "categories_");
  if (categories.length !== names.length) {
    throw new ImportError(
      `OneHotEncoder was fitted on ${categories.length} columns but is given ${names.length} (${names.join(", ")})`,
    );
  }
  refuseInfrequent(encoder);
  const dropped = dropIndices(encoder, categories.length);

  const columns: string[] = [];
  const features: FeatureColumn[] = [];
  const featureNames: string[] = [];
  categories.forEach((item, i) => {
    if (!isNdArray(item)) {
      throw new ImportError(
        `OneHotEncoder: cannot read attribute "categories_" (item ${i} is ${describe(item)}, not a numpy array)`,
      );
    }
    const values = toValues(item);
    const drop = dropped[i];
    // Kept categories get codes 0, 1, 2… in order; the dropped one -1.
    const codes: number[] = [];
    let next = 0;
    values.forEach((value, index) => {
      if (index === drop) {
        codes.push(-1);
        return;
      }
      codes.push(next);
      features.push({ kind: "indicator", column: columns.length, code: next });
      featureNames.push(`${names[i]}_${String(value)}`);
      next++;
    });
    columns.push(encodeColumn(context, names[i], item, values, codes));
  });
  return {
    value: stack(context.graph, columns, "x_onehot"),
    width: columns.length,
    features,
    names: featureNames,
  };
}

/** A request column's category codes as a [N, 1] DOUBLE column. */
function encodeColumn(
  context: StageContext,
  name: string,
  array: NdArray,
  values: PyValue[],
  codes: number[],
): string {
  const { graph } = context;
  let code: string;
  if (values.every((v) => typeof v === "string")) {
    const input = context.input(name, "STRING", "OneHotEncoder");
    code = graph.op(
      "LabelEncoder",
      [input],
      {
        keys_strings: { strings: values as string[] },
        values_int64s: { ints: codes },
        default_int64: { int: -1 },
      },
      { output: `${name}_code`, domain: "ai.onnx.ml" },
    );
  } else {
    const numbers = values.map((v) => scalarNumber(v));
    if (!numbers.every((v): v is number => v !== undefined && Number.isSafeInteger(v))) {
      throw new ImportError(
        `OneHotEncoder: the categories of column "${name}" (${array.dtype.str}) are not all strings ` +
          `or all whole numbers; mldeploy converts only those`,
      );
    }
    // Whole-number categories: look the value up as int64, and give -1 to a value that is not
    // exactly that whole number (3.5 must not match category 3; NaN matches nothing).
    const input = context.input(name, "DOUBLE", "OneHotEncoder");
    const asInt = graph.op("Cast", [input], { to: { int: 7 } }, { output: `${name}_int` });
    const looked = graph.op(
      "LabelEncoder",
      [asInt],
      {
        keys_int64s: { ints: numbers },
        values_int64s: { ints: codes },
        default_int64: { int: -1 },
      },
      { output: `${name}_lookup`, domain: "ai.onnx.ml" },
    );
    const back = graph.op("Cast", [asInt], { to: { int: 11 } }, { output: `${name}_int_d` });
    const exact = graph.op("Equal", [back, input], {}, { output: `${name}_whole` });
    const unknown = graph.constant(`${name}_unknown`, "INT64", [], [-1]);
    code = graph.op("Where", [exact, looked, unknown], {}, { output: `${name}_code` });
  }
  const asDouble = graph.op("Cast", [code], { to: { int: 11 } }, { output: `${name}_code_d` });
  return graph.op("Unsqueeze", [asDouble, context.axes()], {}, { output: `${name}_code_2d` });
}

/**
 * Per feature, the index into categories_ of the category `drop` removes, or undefined.
 * sklearn 1.3+ keeps drop_idx_ in categories_ terms and the index after grouping infrequent
 * categories in _drop_idx_after_grouping; without infrequent categories (refused above) the two
 * are equal, and 1.0–1.2 have only drop_idx_.
 */
function dropIndices(encoder: PyObject, count: number): Array<number | undefined> {
  const raw =
    optionalAttr(encoder, "_drop_idx_after_grouping") ?? optionalAttr(encoder, "drop_idx_");
  if (raw === undefined || raw === null) return new Array<undefined>(count).fill(undefined);
  const items = isNdArray(raw) ? toValues(raw) : sequenceItems(raw);
  if (!items || items.length !== count) {
    throw new ImportError(
      `OneHotEncoder: cannot read attribute "drop_idx_" (expected ${count} indices, found ${describe(raw)})`,
    );
  }
  return items.map((item) => (item === null ? undefined : scalarNumber(item)));
}

function refuseInfrequent(encoder: PyObject): void {
  if (!flag(encoder, "_infrequent_enabled", false)) return;
  const indices = optionalAttr(encoder, "_infrequent_indices");
  const grouped = (sequenceItems(indices) ?? []).some((item) => item !== null);
  if (grouped) {
    throw new ImportError(
      "OneHotEncoder groups infrequent categories (min_frequency / max_categories); " +
        "mldeploy does not convert that grouping yet: refit without them",
    );
  }
}
