import { attr, describe, scalarNumber, stringAttr } from "../pickle/access.js";
import type { PyObject } from "../pickle/values.js";
import { ImportError } from "../types.js";
import { namesFloat32, stack, type StageContext } from "./matrix.js";
import type { FeatureColumn, FeatureMatrix } from "./stage.js";

/**
 * DictVectorizer as a first stage. sklearn turns each dict {name: value} into one column per
 * vocabulary key: a string value v of `name` sets the key "name<separator>v" to 1, a number
 * sets the key "name" to itself. So the request has one column per dict key name: a string
 * column for names whose keys carry values ("PU_DO=130_205"), a number column for the others
 * ("trip_distance"). A string column becomes one column of category codes (LabelEncoder, an
 * unseen value -1 = all its one-hot columns 0, as DictVectorizer ignores unseen keys) and its
 * one-hot columns stay indicators, never materialized.
 */
export function dictVectorizerStage(dv: PyObject, context: StageContext): FeatureMatrix {
  const separator = stringAttr(dv, "separator");
  const keys = vocabularyKeys(dv);
  const float32 = namesFloat32(dv.state.get("dtype"));

  // Name -> its categories in X order (string names) or undefined (number names).
  const categorical = new Map<string, string[]>();
  const numeric = new Set<string>();
  for (const key of keys) {
    const at = key.indexOf(separator);
    if (at < 0 || separator === "") numeric.add(key);
    else {
      const name = key.slice(0, at);
      const values = categorical.get(name) ?? [];
      values.push(key.slice(at + separator.length));
      categorical.set(name, values);
    }
  }
  for (const name of numeric) {
    if (categorical.has(name)) {
      throw new ImportError(
        `DictVectorizer: feature "${name}" was fitted with both numbers and strings; ` +
          `mldeploy needs one type per request column`,
      );
    }
  }

  const { graph } = context;
  const columns: string[] = [];
  const codeColumn = new Map<string, number>();
  const codeOf = new Map<string, Map<string, number>>();
  for (const [name, values] of categorical) {
    const input = context.input(name, "STRING", "DictVectorizer");
    const codes = new Map(values.map((v, code) => [v, code]));
    codeOf.set(name, codes);
    const encoded = graph.op(
      "LabelEncoder",
      [input],
      {
        keys_strings: { strings: values },
        values_int64s: { ints: values.map((_, code) => code) },
        default_int64: { int: -1 },
      },
      { output: `${name}_code`, domain: "ai.onnx.ml" },
    );
    const asDouble = graph.op("Cast", [encoded], { to: { int: 11 } }, { output: `${name}_code_d` });
    codeColumn.set(name, columns.length);
    columns.push(
      graph.op("Unsqueeze", [asDouble, context.axes()], {}, { output: `${name}_code_2d` }),
    );
  }
  const valueColumn = new Map<string, number>();
  for (const name of numeric) {
    let column = context.numericColumn(name, "DictVectorizer");
    if (float32) {
      // dtype=np.float32: sklearn stores each value rounded to float32.
      const narrow = graph.op("Cast", [column], { to: { int: 1 } }, { output: `${name}_f4` });
      column = graph.op("Cast", [narrow], { to: { int: 11 } }, { output: `${name}_f4_d` });
    }
    valueColumn.set(name, columns.length);
    columns.push(column);
  }

  const features: FeatureColumn[] = keys.map((key) => {
    if (numeric.has(key)) return { kind: "value", column: valueColumn.get(key) as number };
    const at = key.indexOf(separator);
    const name = key.slice(0, at);
    const code = codeOf.get(name)?.get(key.slice(at + separator.length)) as number;
    return { kind: "indicator", column: codeColumn.get(name) as number, code };
  });
  return { value: stack(graph, columns, "x_dv"), width: columns.length, features, names: keys };
}

/** The vocabulary's keys in X's column order (vocabulary_ maps key -> column). */
function vocabularyKeys(dv: PyObject): string[] {
  const vocabulary = attr(dv, "vocabulary_");
  if (
    typeof vocabulary !== "object" ||
    vocabulary === null ||
    Array.isArray(vocabulary) ||
    vocabulary.kind !== "dict"
  ) {
    throw new ImportError(
      `DictVectorizer: cannot read attribute "vocabulary_" (expected a dict, found ${describe(vocabulary)})`,
    );
  }
  const keys: string[] = new Array<string>(vocabulary.entries.size);
  for (const [key, index] of vocabulary.entries) {
    const column = scalarNumber(index);
    if (
      typeof key !== "string" ||
      column === undefined ||
      column < 0 ||
      column >= keys.length ||
      keys[column] !== undefined
    ) {
      throw new ImportError(
        `DictVectorizer: cannot read attribute "vocabulary_" (entry ${String(key)} -> ${describe(index)} is not a key -> column of 0..${keys.length - 1})`,
      );
    }
    keys[column] = key;
  }
  if (keys.length === 0) throw new ImportError("DictVectorizer: its vocabulary_ is empty");
  return keys;
}
