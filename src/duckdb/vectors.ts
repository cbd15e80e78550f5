import { DuckDBDoubleVector, type DuckDBValue, type DuckDBVector } from "@duckdb/node-api";

const SMALL_INTEGERS = /^(TINYINT|SMALLINT|INTEGER|UTINYINT|USMALLINT|UINTEGER)$/;
export const BIG_INTEGERS = /^(BIGINT|UBIGINT|HUGEINT|UHUGEINT)$/;
export const TIMES = /^(DATE|TIMESTAMP.*)$/;

/** DuckDB integer types narrower than 64 bits (exact as a double). */
export function isSmallIntegerType(type: string): boolean {
  return SMALL_INTEGERS.test(type);
}

/** Integer types whose every value fits a signed 64-bit integer. */
export function isInt64Type(type: string): boolean {
  return SMALL_INTEGERS.test(type) || type === "BIGINT";
}

/**
 * How a column travels from DuckDB to JS. Conversions that SQL does for free (timestamps to
 * epoch milliseconds, decimals to doubles) happen in the query, so the JS loop only copies.
 */
export type VectorKind = "number" | "bigint" | "string" | "boolean" | "time";

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

/** JS numbers where exact, else the decimal text (never a bigint, which JSON cannot encode). */
export function fromBigint(value: bigint): number | string {
  return value <= MAX_SAFE && value >= MIN_SAFE ? Number(value) : value.toString();
}

/**
 * The raw values and validity mask of a DOUBLE vector, or undefined when the vector is not
 * laid out as expected. The node API's getItem() tests validity with BigInt arithmetic, which
 * made it the largest cost of a read; a 32-bit view of the same mask answers the same question.
 */
export function doubleData(
  vector: DuckDBVector,
): { items: Float64Array; valid: Uint32Array | undefined } | undefined {
  if (!(vector instanceof DuckDBDoubleVector)) return undefined;
  const inner = vector as unknown as {
    items?: unknown;
    validity?: { data?: unknown; offset?: unknown };
  };
  const items = inner.items;
  const mask = inner.validity?.data;
  if (!(items instanceof Float64Array) || inner.validity?.offset !== 0) return undefined;
  if (mask === null) return { items, valid: undefined };
  if (!(mask instanceof BigUint64Array)) return undefined;
  return { items, valid: new Uint32Array(mask.buffer, mask.byteOffset, mask.length * 2) };
}

/** Appends rows [offset, count) of `vector` to `out`, converted for `kind`. */
export function copyVector(
  vector: DuckDBVector,
  kind: VectorKind,
  count: number,
  offset: number,
  out: unknown[],
): void {
  const raw = kind === "number" || kind === "time" ? doubleData(vector) : undefined;
  if (raw) {
    const { items, valid } = raw;
    for (let row = offset; row < count; row++) {
      if (valid !== undefined && (valid[row >>> 5] & (1 << (row & 31))) === 0) out.push(null);
      else out.push(kind === "time" ? new Date(items[row]) : items[row]);
    }
    return;
  }
  for (let row = offset; row < count; row++) {
    const item: DuckDBValue = vector.getItem(row);
    if (item === null) out.push(null);
    else if (kind === "bigint") out.push(fromBigint(item as bigint));
    else if (kind === "time") out.push(new Date(item as number));
    else out.push(item);
  }
}
