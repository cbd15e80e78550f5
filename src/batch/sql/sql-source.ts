import { UserError } from "../../config/errors.js";
import type { BatchSource, KeyValue, NullKeyChunk, ReadOptions, SourceChunk } from "../types.js";
import type { SqlDialect } from "./dialect.js";
import {
  chunkStatement,
  countStatement,
  nullIdStatement,
  nullSinceStatement,
  planRead,
  type ReadPlan,
  type Statement,
} from "./select.js";

/** What a SQL source needs from its driver. */
export interface SourceDriver {
  readonly dialect: SqlDialect;
  /**
   * Runs a SELECT and returns its rows as arrays in select-list order. The first `keys`
   * values of each row are keyset values and must come back exactly as the database compares
   * them (numbers, or text where a JS value would lose precision, e.g. microsecond timestamps)
   * so that binding them again resumes exactly after that row; the other values are as the
   * driver parses them (Date for timestamps on PostgreSQL).
   */
  select(sql: string, values: readonly unknown[], keys: number): Promise<SelectResult>;
  close(): Promise<void>;
}

export interface SelectResult {
  rows: unknown[][];
  /** Per select-list position: the column's declared type is an integer type. */
  integer: readonly boolean[];
}

function keyValue(value: unknown, column: string): KeyValue {
  if (typeof value === "string" || typeof value === "number") return value;
  throw new UserError(
    `key column ${column} holds a ${value instanceof Uint8Array ? "blob" : typeof value}: ` +
      "id and since columns must be numbers, text or timestamps",
  );
}

/** A key value that may be NULL (rows outside the keyset). */
function nullableKey(value: unknown, column: string): KeyValue | null {
  return value === null || value === undefined ? null : keyValue(value, column);
}

/** Column-oriented chunk from row arrays laid out as `plan.select`. */
function toChunk(result: SelectResult, plan: ReadPlan): SourceChunk;
function toChunk(result: SelectResult, plan: ReadPlan, nullable: true): NullKeyChunk;
function toChunk(
  { rows, integer }: SelectResult,
  plan: ReadPlan,
  nullable = false,
): SourceChunk | NullKeyChunk {
  const key = nullable ? nullableKey : keyValue;
  const hasSince = plan.sinceColumn !== undefined;
  const idAt = hasSince ? 1 : 0;
  const chunk: NullKeyChunk = {
    rows: rows.length,
    ids: rows.map((row) => key(row[idAt], plan.idColumn)),
    columns: {},
  };
  if (hasSince) chunk.since = rows.map((row) => key(row[0], plan.sinceColumn ?? ""));
  const integers = new Set<string>();
  plan.columns.forEach((name, i) => {
    const at = plan.keys.length + i;
    chunk.columns[name] = rows.map((row) => row[at]);
    if (integer[at]) integers.add(name);
  });
  chunk.integers = integers;
  return chunk;
}

/**
 * A table or query of a SQL database as a BatchSource. Both dialects share this class; the
 * drivers only run statements and convert values.
 */
export class SqlSource implements BatchSource {
  constructor(
    private readonly driver: SourceDriver,
    /** The FROM item: a quoted table name or a parenthesized query. */
    private readonly from: string,
    readonly description: string,
  ) {}

  async *read(options: ReadOptions): AsyncIterable<SourceChunk> {
    const plan = planRead(options);
    let after = options.after;
    for (;;) {
      const statement = chunkStatement(this.driver.dialect, this.from, plan, { ...options, after });
      const result = await this.driver.select(statement.sql, statement.values, plan.keys.length);
      const rows = result.rows;
      if (rows.length === 0) return;
      const chunk = toChunk(result, plan);
      // Key of the last row, taken before the consumer may modify the chunk.
      const last = rows.length - 1;
      const next = { id: chunk.ids[last], since: chunk.since?.[last] ?? undefined };
      yield chunk;
      // A short chunk is the last one: no need for a query that returns nothing.
      if (rows.length < options.chunkSize) return;
      after = next.since === undefined ? { id: next.id } : next;
    }
  }

  async *readNullKeys(options: ReadOptions): AsyncIterable<NullKeyChunk> {
    const plan = planRead(options);
    const dialect = this.driver.dialect;
    const { chunkSize, partition } = options;
    const page = async (statement: Statement) =>
      toChunk(
        await this.driver.select(statement.sql, statement.values, plan.keys.length),
        plan,
        true,
      );
    // NULL ids have no hash: partition 0 reports them, so N workers report each once.
    if (partition === undefined || partition.index === 0) {
      for (let offset = 0; ; offset += chunkSize) {
        const chunk = await page(nullIdStatement(dialect, this.from, plan, { chunkSize, offset }));
        if (chunk.rows > 0) yield chunk;
        if (chunk.rows < chunkSize) break;
      }
    }
    if (plan.sinceColumn === undefined) return;
    let afterId: KeyValue | null | undefined;
    for (;;) {
      const statement = nullSinceStatement(dialect, this.from, plan, {
        afterId: afterId ?? undefined,
        partition,
        chunkSize,
      });
      const chunk = await page(statement);
      // Taken before the consumer may modify the chunk.
      const last = chunk.ids[chunk.rows - 1];
      if (chunk.rows > 0) yield chunk;
      if (chunk.rows < chunkSize) return;
      afterId = last;
    }
  }

  async count(options: Omit<ReadOptions, "chunkSize">): Promise<number> {
    const plan = planRead(options);
    const statement = countStatement(this.driver.dialect, this.from, plan, options);
    const { rows } = await this.driver.select(statement.sql, statement.values, 0);
    return Number(rows[0]?.[0] ?? 0);
  }

  close(): Promise<void> {
    return this.driver.close();
  }
}
