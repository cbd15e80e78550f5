/**
 * The file source: Parquet and CSV files read through DuckDB in keyset order. One job over
 * ~550 lines: its read plan (keyset, partitions, NULL keys), the CSV reader that keeps
 * non-decimal numbers as text, and the chunk buffers that copy DuckDB's vectors all serve
 * read() and change together with it.
 */
import type { DuckDBConnection, DuckDBValue, DuckDBVector } from "@duckdb/node-api";
import { UserError } from "../../config/errors.js";
import {
  closeDuckDB,
  openDuckDB,
  type DuckDBEngine,
  type DuckDBSettings,
} from "../../duckdb/instance.js";
import { firstLine, sqlIdentifier, sqlString } from "../../duckdb/sql.js";
import {
  BIG_INTEGERS,
  TIMES,
  copyVector,
  doubleData,
  fromBigint,
  isSmallIntegerType,
  type VectorKind as Kind,
} from "../../duckdb/vectors.js";
import { checkPartition } from "../partition.js";
import { checkQuery } from "../query.js";
import type { BatchSource, KeyValue, NullKeyChunk, ReadOptions, SourceChunk } from "../types.js";
import { NumericColumn, materialize, type ColumnData } from "../columns.js";
import { DECIMAL_SQL } from "../decimal.js";
import { formatFromPath, type FileFormat } from "./format.js";

export interface FileSourceOptions extends DuckDBSettings {
  /** A file or a glob (`data/green_tripdata_2021-*.parquet`). */
  path: string;
  /** Default: from the extension (`.parquet`, `.csv`, `.tsv`, optionally `.gz`/`.zst`). */
  format?: FileFormat;
  /**
   * A DuckDB SELECT over `source` (the files' rows plus `filename` and `file_row_number`),
   * read instead of the files as they are: how raw TLC files get a ride id and a duration.
   */
  query?: string;
}

interface Projection {
  sql: string;
  kind: Kind;
}

/** Types the CSV sniffer gives to columns of numbers. */
const NUMBERS = /^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|DECIMAL.*)$/;

type KeyColumns = Pick<ReadOptions, "idColumn" | "sinceColumn">;

/**
 * @param safe for 64/128-bit integer columns: all values are within ±(2^53 - 1), so they can
 *   travel as DOUBLE. Reading BIGINT vectors allocates a JS bigint per value, which doubled
 *   the read time of a 1M-row file (mostly garbage collection).
 */
function valueProjection(column: string, type: string, safe = false): Projection {
  const ref = sqlIdentifier(column);
  if (type === "DOUBLE") return { sql: ref, kind: "number" };
  // Every other number travels as DOUBLE too (exact for these types): one vector layout to copy.
  if (isSmallIntegerType(type) || type === "FLOAT" || type.startsWith("DECIMAL"))
    return { sql: `CAST(${ref} AS DOUBLE)`, kind: "number" };
  if (BIG_INTEGERS.test(type)) {
    return safe ? { sql: `CAST(${ref} AS DOUBLE)`, kind: "number" } : { sql: ref, kind: "bigint" };
  }
  if (TIMES.test(type)) return { sql: `CAST(epoch_ms(${ref}) AS DOUBLE)`, kind: "time" };
  if (type === "BOOLEAN") return { sql: ref, kind: "boolean" };
  if (type === "VARCHAR") return { sql: ref, kind: "string" };
  // UUIDs, intervals, lists…: their text form keeps them readable and JSON-safe.
  return { sql: `CAST(${ref} AS VARCHAR)`, kind: "string" };
}

/**
 * Watermark values must be a KeyValue (string | number) that, cast back to the column's type,
 * compares exactly. Timestamps therefore travel as DuckDB's own text form, which keeps their
 * full (micro- or nanosecond) precision; a JS Date would round to milliseconds and re-read the
 * last rows of a chunk.
 */
function keyProjection(column: string, type: string, safe: boolean): Projection {
  if (TIMES.test(type)) return { sql: `CAST(${sqlIdentifier(column)} AS VARCHAR)`, kind: "string" };
  return valueProjection(column, type, safe);
}

/**
 * The expression that reads key column `column` (of DuckDB type `type`) as a checkpoint value:
 * the same form the chunk reader gives, so a checkpoint from either path resumes the other.
 */
export function keyExpression(column: string, type: string): string {
  return keyProjection(column, type, false).sql;
}

/** A checkpoint value as a key column's projection delivers it: a number or exact text. */
export function keyValue(value: DuckDBValue): KeyValue {
  if (typeof value === "bigint") return fromBigint(value);
  if (typeof value === "number" || typeof value === "string") return value;
  return String(value);
}

/**
 * The FROM item that reads the files; `numbered` adds `filename` and `file_row_number` (0-based,
 * per file), which a --query uses to make ids. read_parquet has file_row_number; read_csv has
 * not, so CSV rows are numbered from the scan's ordinality, which follows the files' order
 * (each file's rows contiguous and in order, also when DuckDB reads in parallel).
 */
export function filesReader(
  format: FileFormat,
  files: string,
  numbered: boolean,
  textColumns: string[] = [],
): string {
  const file = sqlString(files);
  // union_by_name lets a glob span files whose columns were added or reordered over time.
  if (format === "parquet") {
    const extra = numbered ? ", filename = true, file_row_number = true" : "";
    return `read_parquet(${file}, union_by_name = true${extra})`;
  }
  const types =
    textColumns.length === 0
      ? ""
      : `, types = {${textColumns.map((c) => `${sqlString(c)}: 'VARCHAR'`).join(", ")}}`;
  const csv = `read_csv(${file}, header = true, union_by_name = true${numbered ? ", filename = true" : ""}${types})`;
  if (!numbered) return csv;
  return `(SELECT * EXCLUDE (ordinality),
                  ordinality - min(ordinality) OVER (PARTITION BY filename) AS file_row_number
           FROM ${csv} WITH ORDINALITY) AS files`;
}

/** Columns and types of a file or glob. */
async function describe(
  connection: DuckDBConnection,
  reader: string,
  source: string,
): Promise<Map<string, string>> {
  try {
    const result = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${reader}`);
    return new Map(
      result
        .getRowObjectsJson()
        .map((row) => [String(row.column_name), String(row.column_type)] as const),
    );
  } catch (error) {
    throw new UserError(`${source}: cannot read (${firstLine(error)})`, { cause: error });
  }
}

export type ReadShape = Omit<ReadOptions, "chunkSize">;

/** A column of a read: the name asked for, its reference in the files, its DuckDB type. */
export interface ColumnRef {
  name: string;
  sql: string;
  type: string;
}

/** The SQL of a read, for queries that run where the data is (see score-in-duckdb.ts). */
export interface ScanPlan {
  /** The files (or the --query over them), usable after FROM. */
  from: string;
  /** Keyset, partition and NOT NULL key conditions, with $n placeholders bound by `params`. */
  where: string;
  params: DuckDBValue[];
  orderBy: string;
  idRef: ColumnRef;
  sinceRef?: ColumnRef;
  /** One per ReadOptions.columns entry. */
  refs: ColumnRef[];
}

interface Plan extends ScanPlan {
  id: Projection;
  since?: Projection;
  columns: Projection[];
}

/**
 * Reads Parquet or CSV files (one file or a glob) through DuckDB, in keyset order, streaming:
 * one query per read, whose result DuckDB hands over 2048 rows at a time, so JS memory stays
 * at one chunk whatever the file size. (DuckDB's sort for the ORDER BY spills to disk above
 * `memoryLimit`.)
 *
 * Rows whose id (or watermark) is NULL cannot take part in a keyset, so they are left out of
 * reads and of count(); `countNullKeys()` reports how many there are.
 *
 * Partitions hash the id with DuckDB's hash(): workers must use the same mldeploy (DuckDB)
 * version, and then partitions 0..N-1 of N over the same files cover every row exactly once.
 */
export class FileBatchSource implements BatchSource {
  readonly description: string;
  readonly format: FileFormat;
  /** The FROM item of every query; CSV's is settled by csvReader() before the first one. */
  private reader: string;
  private engine?: Promise<DuckDBEngine>;
  private types?: Promise<Map<string, string>>;
  /** Per 64/128-bit integer column: whether all its values fit a double exactly. */
  private readonly safeIntegers = new Map<string, boolean>();

  constructor(private readonly options: FileSourceOptions) {
    const format = options.format ?? formatFromPath(options.path);
    if (!format) {
      throw new UserError(
        `${options.path}: cannot tell the format from the extension; use .parquet or .csv, or a parquet:/csv: prefix`,
      );
    }
    this.format = format;
    this.reader = this.withQuery(filesReader(format, options.path, options.query !== undefined));
    this.description = `${format}:${options.path}`;
  }

  async *read(options: ReadOptions): AsyncIterable<SourceChunk> {
    if (!Number.isInteger(options.chunkSize) || options.chunkSize < 1)
      throw new UserError(`chunkSize must be a positive integer, got ${options.chunkSize}`);
    const plan = await this.plan(options);
    yield* this.stream(options, plan, `${plan.where} ORDER BY ${plan.orderBy}`, plan.params);
  }

  async *readNullKeys(options: ReadOptions): AsyncIterable<NullKeyChunk> {
    if (options.partition) checkPartition(options.partition);
    const plan = await this.plan({ ...options, after: undefined, partition: undefined });
    const id = plan.idRef.sql;
    const where = [
      plan.sinceRef ? `(${id} IS NULL OR ${plan.sinceRef.sql} IS NULL)` : `${id} IS NULL`,
    ];
    const partition = options.partition;
    if (partition && partition.count > 1) {
      // NULL ids have no hash of their own: partition 0 reports them.
      where.push(
        `CASE WHEN ${id} IS NULL THEN ${partition.index === 0} ` +
          `ELSE hash(${id}) % ${partition.count} = ${partition.index} END`,
      );
    }
    yield* this.stream(options, plan, `${where.join(" AND ")} ORDER BY ${plan.orderBy}`, []);
  }

  /**
   * Streams the rows of `plan` that match `filter` (a condition and its ORDER BY); ids hold null
   * for a NULL id (readNullKeys).
   */
  private async *stream(
    options: ReadOptions,
    plan: Plan,
    filter: string,
    params: DuckDBValue[],
  ): AsyncIterable<SourceChunk> {
    const select = [plan.id, ...(plan.since ? [plan.since] : []), ...plan.columns]
      .map((p, i) => `${p.sql} AS c${i}`)
      .join(", ");
    const { instance } = await this.open();
    // A connection per read: a streaming result occupies its connection until drained.
    const connection = await instance.connect();
    try {
      const result = await connection.stream(
        `SELECT ${select} FROM ${plan.from} WHERE ${filter}`,
        params,
      );
      let chunk = emptyChunk(options, plan);
      for (;;) {
        const data = await result.fetchChunk();
        if (!data || data.rowCount === 0) break;
        const rows = data.rowCount;
        for (let offset = 0; offset < rows;) {
          // Copy up to the chunk boundary, yield, and continue in the same DuckDB chunk.
          const end = Math.min(rows, offset + options.chunkSize - chunk.rows);
          copyVector(data.getColumnVector(0), plan.id.kind, end, offset, chunk.ids);
          let column = 1;
          if (plan.since && chunk.since) {
            copyVector(data.getColumnVector(column++), plan.since.kind, end, offset, chunk.since);
          }
          chunk.buffers.forEach((buffer, i) => {
            buffer.append(data.getColumnVector(column + i), offset, end);
          });
          chunk.rows += end - offset;
          offset = end;
          if (chunk.rows === options.chunkSize) {
            yield finish(chunk, options);
            chunk = emptyChunk(options, plan);
          }
        }
      }
      if (chunk.rows > 0) yield finish(chunk, options);
    } catch (error) {
      if (error instanceof UserError) throw error;
      throw new UserError(`${this.description}: ${firstLine(error)}`, { cause: error });
    } finally {
      connection.closeSync();
    }
  }

  async count(options: ReadShape): Promise<number> {
    const plan = await this.plan(options);
    return this.scalar(`SELECT count(*) FROM ${plan.from} WHERE ${plan.where}`, plan.params);
  }

  /** The SQL of a read with these options (see ScanPlan). */
  async scanPlan(options: ReadShape): Promise<ScanPlan> {
    return this.plan(options);
  }

  /** A new connection to this source's DuckDB, for queries over its files; the caller closes it. */
  async connect(): Promise<DuckDBConnection> {
    const { instance } = await this.open();
    return instance.connect();
  }

  /** Rows left out of every read because their id or watermark is NULL. */
  async countNullKeys(options: Pick<ReadOptions, "idColumn" | "sinceColumn">): Promise<number> {
    const types = await this.columnTypes(options);
    const keys = [options.idColumn, ...(options.sinceColumn ? [options.sinceColumn] : [])].map(
      (name) => `${sqlIdentifier(this.resolve(types, name))} IS NULL`,
    );
    return this.scalar(`SELECT count(*) FROM ${this.reader} WHERE ${keys.join(" OR ")}`, []);
  }

  async close(): Promise<void> {
    const engine = this.engine;
    this.engine = undefined;
    this.types = undefined;
    this.safeIntegers.clear();
    await closeDuckDB(engine);
  }

  private open(): Promise<DuckDBEngine> {
    this.engine ??= openDuckDB(this.options);
    return this.engine;
  }

  private async scalar(sql: string, params: DuckDBValue[]): Promise<number> {
    const { connection } = await this.open();
    try {
      const result = await connection.runAndReadAll(sql, params);
      return Number(result.getRows()[0][0]);
    } catch (error) {
      throw new UserError(`${this.description}: ${firstLine(error)}`, { cause: error });
    }
  }

  private columnTypes(keys: KeyColumns): Promise<Map<string, string>> {
    this.types ??= this.open().then(async ({ connection }) => {
      if (this.format === "csv") this.reader = await this.csvReader(connection, keys);
      return describe(connection, this.reader, this.description);
    });
    return this.types;
  }

  /**
   * The CSV reader, with the columns that DuckDB's sniffer types as numbers but that hold
   * numbers written otherwise than in decimal ("0x10", "010", "+1", "1.", which it would read as
   * 16, 10, 1 and 1) read as text instead, so that validation sees them as written and rejects
   * them with the field named. Costs one scan of those columns as text when the source opens.
   * The key columns keep their type: their order must not change under a job's checkpoint.
   */
  private async csvReader(connection: DuckDBConnection, keys: KeyColumns): Promise<string> {
    const { path: files, query } = this.options;
    const plain = filesReader("csv", files, query !== undefined);
    const sniffed = await describe(connection, filesReader("csv", files, false), this.description);
    const excluded = new Set(
      [keys.idColumn, keys.sinceColumn].flatMap((name) => (name ? [name.toLowerCase()] : [])),
    );
    const numeric = [...sniffed]
      .filter(([name, type]) => NUMBERS.test(type) && !excluded.has(name.toLowerCase()))
      .map(([name]) => name);
    if (numeric.length === 0) return this.withQuery(plain);
    const decimal = numeric.map(
      (c) => `coalesce(bool_and(regexp_full_match(${sqlIdentifier(c)}, ${DECIMAL_SQL})), true)`,
    );
    let text: string[];
    try {
      const result = await connection.runAndReadAll(
        `SELECT ${decimal.join(", ")}
         FROM read_csv(${sqlString(files)}, header = true, union_by_name = true, all_varchar = true)`,
      );
      text = numeric.filter((_, i) => result.getRows()[0][i] !== true);
    } catch (error) {
      throw new UserError(`${this.description}: cannot read (${firstLine(error)})`, {
        cause: error,
      });
    }
    return this.withQuery(filesReader("csv", files, query !== undefined, text));
  }

  /** The FROM item: the files, or the --query over them. */
  private withQuery(reader: string): string {
    const query = this.options.query;
    return query === undefined
      ? reader
      : `(WITH source AS (SELECT * FROM ${reader})\n${checkQuery(query)}\n) AS query`;
  }

  /**
   * Finds which big-integer columns hold only doubles-safe values, with one min/max query per
   * new set of columns (a scan of those columns only; Parquet keeps them apart).
   */
  private async checkSafeIntegers(types: Map<string, string>, columns: string[]): Promise<void> {
    const pending = [...new Set(columns)].filter(
      (c) => BIG_INTEGERS.test(types.get(c) ?? "") && !this.safeIntegers.has(c),
    );
    if (pending.length === 0) return;
    const limit = Number.MAX_SAFE_INTEGER;
    const checks = pending.map(
      (c) =>
        `coalesce(min(${sqlIdentifier(c)}) >= -${limit} AND max(${sqlIdentifier(c)}) <= ${limit}, true)`,
    );
    const { connection } = await this.open();
    try {
      const result = await connection.runAndReadAll(
        `SELECT ${checks.join(", ")} FROM ${this.reader}`,
      );
      result.getRows()[0].forEach((safe, i) => this.safeIntegers.set(pending[i], safe === true));
    } catch (error) {
      throw new UserError(`${this.description}: ${firstLine(error)}`, { cause: error });
    }
  }

  /** The file's spelling of a requested column (DuckDB names are case-insensitive). */
  private resolve(types: Map<string, string>, name: string): string {
    if (types.has(name)) return name;
    const match = [...types.keys()].find((c) => c.toLowerCase() === name.toLowerCase());
    if (match) return match;
    throw new UserError(
      `${this.description}: no column "${name}"; it has: ${[...types.keys()].join(", ")}`,
    );
  }

  private async plan(options: ReadShape): Promise<Plan> {
    if (options.partition) checkPartition(options.partition);
    const types = await this.columnTypes(options);
    const typeOf = (name: string): string => types.get(name) ?? "VARCHAR";
    const id = this.resolve(types, options.idColumn);
    const since = options.sinceColumn ? this.resolve(types, options.sinceColumn) : undefined;
    const idRef = sqlIdentifier(id);
    const sinceRef = since ? sqlIdentifier(since) : undefined;

    const where = [`${idRef} IS NOT NULL`];
    const params: DuckDBValue[] = [];
    if (sinceRef) where.push(`${sinceRef} IS NOT NULL`);
    const after = options.after;
    if (after) {
      // Bound values are cast to the column's own type so the comparison is exact (a bound
      // JS number would otherwise make DuckDB compare BIGINT ids as DOUBLE).
      params.push(after.id);
      const idValue = `CAST($${params.length} AS ${typeOf(id)})`;
      if (sinceRef && since) {
        if (after.since === undefined)
          throw new UserError(`${this.description}: the checkpoint has no "${since}" value`);
        params.push(after.since);
        const sinceValue = `CAST($${params.length} AS ${typeOf(since)})`;
        where.push(`(${sinceRef}, ${idRef}) > (${sinceValue}, ${idValue})`);
      } else {
        where.push(`${idRef} > ${idValue}`);
      }
    }
    if (options.partition && options.partition.count > 1) {
      where.push(`hash(${idRef}) % ${options.partition.count} = ${options.partition.index}`);
    }
    const columns = options.columns.map((name) => this.resolve(types, name));
    await this.checkSafeIntegers(types, [id, ...(since ? [since] : []), ...columns]);
    const safe = (name: string): boolean => this.safeIntegers.get(name) === true;
    const ref = (name: string, resolved: string): ColumnRef => ({
      name,
      sql: sqlIdentifier(resolved),
      type: typeOf(resolved),
    });
    return {
      from: this.reader,
      where: where.join(" AND "),
      params,
      idRef: ref(options.idColumn, id),
      sinceRef: since && options.sinceColumn ? ref(options.sinceColumn, since) : undefined,
      refs: options.columns.map((name, i) => ref(name, columns[i])),
      id: keyProjection(id, typeOf(id), safe(id)),
      since: since ? keyProjection(since, typeOf(since), safe(since)) : undefined,
      columns: columns.map((column) => valueProjection(column, typeOf(column), safe(column))),
      orderBy: sinceRef ? `${sinceRef}, ${idRef}` : idRef,
    };
  }
}

interface PendingChunk {
  rows: number;
  ids: KeyValue[];
  since?: Array<KeyValue | null>;
  /** One per ReadOptions.columns entry. */
  buffers: ColumnBuffer[];
}

function emptyChunk(options: ReadOptions, plan: Plan): PendingChunk {
  return {
    rows: 0,
    ids: [],
    since: plan.since ? [] : undefined,
    buffers: plan.columns.map((projection) => new ColumnBuffer(projection.kind, options.chunkSize)),
  };
}

function finish(chunk: PendingChunk, options: ReadOptions): SourceChunk {
  const columns: Record<string, ColumnData> = {};
  options.columns.forEach((name, i) => {
    columns[name] = chunk.buffers[i].finish();
  });
  return { rows: chunk.rows, ids: chunk.ids, since: chunk.since, columns };
}

/**
 * One column of a chunk being read. Numbers and timestamps go into a Float64Array (NULL as NaN)
 * by whole-vector copies; a column that turns out to hold a real NaN, which that form cannot
 * tell from NULL, continues as one JS value per row, as do all other kinds.
 */
class ColumnBuffer {
  private numbers?: Float64Array;
  private values?: unknown[];
  private rows = 0;

  constructor(
    private readonly kind: Kind,
    capacity: number,
  ) {
    if (kind === "number" || kind === "time") this.numbers = new Float64Array(capacity);
    else this.values = [];
  }

  /** Appends rows [from, to) of `vector`. */
  append(vector: DuckDBVector, from: number, to: number): void {
    if (this.numbers !== undefined) {
      const raw = doubleData(vector);
      if (raw !== undefined && this.copyNumbers(raw, from, to)) return;
      // What was copied so far continues as one JS value per row.
      this.values = materialize(this.finish());
      this.numbers = undefined;
    }
    copyVector(vector, this.kind, to, from, this.values!);
    this.rows += to - from;
  }

  finish(): ColumnData {
    if (this.numbers === undefined) return this.values!;
    const kind = this.kind === "time" ? "timestamp" : "number";
    return new NumericColumn(kind, this.numbers.subarray(0, this.rows));
  }

  /** False, having copied nothing that counts, when a valid value is NaN. */
  private copyNumbers(
    raw: { items: Float64Array; valid: Uint32Array | undefined },
    from: number,
    to: number,
  ): boolean {
    const { items, valid } = raw;
    const numbers = this.numbers!;
    const base = this.rows - from;
    numbers.set(items.subarray(from, to), this.rows);
    for (let row = from; row < to; row++) {
      const isValid = valid === undefined || (valid[row >>> 5] & (1 << (row & 31))) !== 0;
      if (!isValid) numbers[base + row] = Number.NaN;
      else if (Number.isNaN(items[row])) return false;
    }
    this.rows += to - from;
    return true;
  }
}
