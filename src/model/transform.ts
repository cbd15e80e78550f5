import type { Column, ColumnarBatch, ColumnSpec, FeatureExpr } from "./types.js";

/**
 * Derives model (ONNX) input columns from request columns, following the bundle's `features`
 * map. The expressions are data, so a new model with other features needs no code here.
 */
export function applyFeatures(
  batch: ColumnarBatch,
  features: Record<string, FeatureExpr>,
): Record<string, Column> {
  const out: Record<string, Column> = {};
  for (const [name, expr] of Object.entries(features)) {
    out[name] = evaluateFeature(expr, batch);
  }
  return out;
}

/** One feature expression's column for the batch. */
export function evaluateFeature(expr: FeatureExpr, batch: ColumnarBatch): Column {
  if ("column" in expr) return requireColumn(batch, expr.column);
  if ("sum" in expr) return sumColumns(expr, batch);
  const parts = concatParts(expr, batch);
  const pair = pairOfParts(parts);
  if (pair) return concatPairs(expr, pair);
  const result = new Array<string>(batch.rows);
  for (let row = 0; row < batch.rows; row++) result[row] = concatRow(parts, row);
  return result;
}

/**
 * A concat over two numeric columns (zone pairs like "130_205"): such features take few
 * distinct values, so callers can remember what they derive from a text by the pair of values
 * (see pairKey) instead of making the text once per row.
 */
export interface PairFeature {
  first: Float64Array;
  second: Float64Array;
  textAt(row: number): string;
}

/** The expression as a PairFeature over the batch; undefined for any other expression. */
export function pairFeature(expr: FeatureExpr, batch: ColumnarBatch): PairFeature | undefined {
  return "concat" in expr ? pairOfParts(concatParts(expr, batch)) : undefined;
}

function pairOfParts(parts: Array<string | Column>): PairFeature | undefined {
  const columns = parts.filter((part): part is Column => typeof part !== "string");
  if (columns.length !== 2 || !columns.every((column) => column instanceof Float64Array)) {
    return undefined;
  }
  return {
    first: columns[0] as Float64Array,
    second: columns[1] as Float64Array,
    textAt: (row) => concatRow(parts, row),
  };
}

/**
 * One number naming a row's pair of values when both are integers in 0..65535 (ids), which
 * also print the same for equal keys; -1 otherwise.
 */
export function pairKey(first: number, second: number): number {
  return (first & 0xffff) === first && (second & 0xffff) === second ? first * 0x10000 + second : -1;
}

function concatParts(
  expr: Extract<FeatureExpr, { concat: unknown }>,
  batch: ColumnarBatch,
): Array<string | Column> {
  return expr.concat.map((part) =>
    typeof part === "string" ? part : requireColumn(batch, part.column),
  );
}

function concatRow(parts: Array<string | Column>, row: number): string {
  let text = "";
  for (const part of parts) text += typeof part === "string" ? part : formatValue(part[row]);
  return text;
}

/**
 * Texts already made for a pair feature, by pair key: each text is built once instead of once
 * per row. A cache that outgrows MAX_PAIR_TEXTS starts over.
 */
const pairTexts = new WeakMap<FeatureExpr, Map<number, string>>();
export const MAX_PAIR_TEXTS = 1 << 20;

function concatPairs(expr: FeatureExpr, pair: PairFeature): string[] {
  let cache = pairTexts.get(expr);
  if (cache === undefined || cache.size > MAX_PAIR_TEXTS) {
    cache = new Map();
    pairTexts.set(expr, cache);
  }
  const { first, second } = pair;
  const result = new Array<string>(first.length);
  for (let row = 0; row < first.length; row++) {
    const key = pairKey(first[row], second[row]);
    if (key < 0) {
      result[row] = pair.textAt(row);
      continue;
    }
    let text = cache.get(key);
    if (text === undefined) {
      text = pair.textAt(row);
      cache.set(key, text);
    }
    result[row] = text;
  }
  return result;
}

function sumColumns(
  expr: Extract<FeatureExpr, { sum: unknown }>,
  batch: ColumnarBatch,
): Float64Array {
  const result = new Float64Array(batch.rows);
  for (const part of expr.sum) {
    if (typeof part === "number") {
      for (let row = 0; row < batch.rows; row++) result[row] += part;
      continue;
    }
    const column = requireColumn(batch, part.column);
    if (!(column instanceof Float64Array))
      throw new Error(`feature expression adds column "${part.column}", which is not numeric`);
    for (let row = 0; row < batch.rows; row++) result[row] += column[row];
  }
  return result;
}

function requireColumn(batch: ColumnarBatch, name: string): Column {
  const column = batch.columns[name];
  if (!column)
    throw new Error(`feature expression refers to column "${name}", which the batch does not have`);
  return column;
}

// Integers print without a decimal point ("130"), the way Python's "%s" prints an int: the
// categories a Python-trained model learned ("130_205") must come out identical here.
export function formatValue(value: number | string | boolean): string {
  if (typeof value === "number" && (value & 0xffff) === value) {
    // Ids (zones, categories) are small integers: their text is made once, not once per row.
    return (SMALL_INTEGERS[value] ??= String(value));
  }
  return typeof value === "string" ? value : String(value);
}

const SMALL_INTEGERS: string[] = [];

/** Columns a set of feature expressions reads, to check a bundle's features against its inputs. */
export function referencedColumns(features: Record<string, FeatureExpr>): Set<string> {
  const names = new Set<string>();
  for (const expr of Object.values(features)) {
    if ("column" in expr) names.add(expr.column);
    else if ("sum" in expr) {
      for (const part of expr.sum) if (typeof part !== "number") names.add(part.column);
    } else for (const part of expr.concat) if (typeof part !== "string") names.add(part.column);
  }
  return names;
}

/** The identity feature map: each model input is the request column of the same name. */
export function identityFeatures(inputs: ColumnSpec[]): Record<string, FeatureExpr> {
  return Object.fromEntries(inputs.map((spec) => [spec.name, { column: spec.name }]));
}
