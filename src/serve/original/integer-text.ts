import type { ColumnSpec } from "../../model/types.js";
import { isNumericType, isPlainObject } from "../../model/validate.js";

/**
 * An integer as Python's str() writes it: no sign on zero, no leading zeros, no spaces, no
 * fraction or exponent.
 */
const PYTHON_INTEGER_TEXT = /^(?:0|-?[1-9][0-9]*)$/;

const numericColumnsOf = new WeakMap<ColumnSpec[], string[]>();

// Every numeric column, not only those typed as integers: a model imported from the original
// service's pickle takes its ids as doubles (the pickle says nothing of their type).
function numericColumns(schema: ColumnSpec[]): string[] {
  let names = numericColumnsOf.get(schema);
  if (names === undefined) {
    names = schema.filter((spec) => isNumericType(spec.type)).map((spec) => spec.name);
    numericColumnsOf.set(schema, names);
  }
  return names;
}

/**
 * The rows with integers sent as text read as numbers, as far as the original Flask service
 * (bench/original-service/predict.py) answered them alike: it built its feature key with
 * `"%s_%s" % (ride["PULocationID"], ride["DOLocationID"])`, so `"10"` made the key `10`
 * makes, and the DictVectorizer gave the same answer. Only text that prints as the integer
 * does ("10", "-3") is read: "010", " 10", "10.0" or "abc" made another key there (an unseen
 * zone pair, scored with no weight) and are refused here (422 naming the field) rather than
 * silently answered. A distance sent as integer text ("4") is read as the number too, where
 * the Flask service's vectorizer took it for a category and dropped the distance. Rows are
 * copied only when they hold such text.
 */
export function readIntegerText(rows: unknown[], schema: ColumnSpec[]): unknown[] {
  const names = numericColumns(schema);
  if (names.length === 0) return rows;
  let copy: unknown[] | undefined;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    const read = isPlainObject(row) ? readRow(row, names) : row;
    if (read !== row) {
      copy ??= rows.slice();
      copy[i] = read;
    }
  }
  return copy ?? rows;
}

function readRow(row: Record<string, unknown>, names: string[]): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const name of names) {
    const value = row[name];
    if (typeof value === "string" && PYTHON_INTEGER_TEXT.test(value)) {
      copy ??= { ...row };
      copy[name] = Number(value);
    }
  }
  return copy ?? row;
}
