/**
 * Prediction log parts into a PostgreSQL table (see postgres-table.ts). Each part goes in one
 * transaction: its bookkeeping row first (ON CONFLICT DO NOTHING: a part already in is not
 * inserted again), then its rows, read from the Parquet file by DuckDB in chunks and sent as
 * one column array per bound parameter (`unnest($1::timestamp[], $2::text[], …)`), 10,000
 * rows a statement. Nothing is visible until COMMIT; a failure rolls the whole part back.
 */
import type { DuckDBConnection } from "@duckdb/node-api";
import pg from "pg";
import type { DuckDBEngine } from "../../../duckdb/instance.js";
import { firstLine, sqlIdentifier, sqlString } from "../../../duckdb/sql.js";
import { META, PREDICTION_LOG_FORMAT_VERSION } from "../schema.js";
import type { LocalPart, PartTarget } from "./catch-up.js";
import {
  ColumnConflict,
  POSTGRES_TYPES,
  addColumns,
  createTables,
  partsTable,
  qualified,
  quote,
  type FooterColumn,
} from "./postgres-table.js";
import type { TableName } from "./url.js";

/** Rows per INSERT statement. */
const ROWS_PER_STATEMENT = 10_000;

/** A part that can never go in: not a log file of this format, or unreadable. */
export class BadPart extends Error {}

/** What a part's footer says. */
export interface PartFooter {
  model: string;
  version: string;
  inputs: FooterColumn[];
  outputs: FooterColumn[];
}

export interface PostgresTargetOptions {
  /** pg connection string (without the `table` parameter). */
  connection: string;
  table: TableName;
  /** For logs and errors: no password. */
  description: string;
}

export class PostgresPartTarget implements PartTarget {
  readonly target: string;
  private pool: pg.Pool | undefined;
  private engine: Promise<DuckDBEngine> | undefined;
  /** Column sets (footer JSON) known to be in the table, so DDL runs once per new set. */
  private readonly ready = new Set<string>();

  constructor(private readonly options: PostgresTargetOptions) {
    this.target = options.description;
  }

  async copy(part: LocalPart): Promise<void> {
    const duck = await this.duckdb();
    const footer = await readFooter(duck, part.file);
    const columns = [...footer.inputs, ...footer.outputs];
    let client: pg.PoolClient | undefined;
    let failed = false;
    try {
      client = await this.connect();
      const signature = JSON.stringify(columns);
      if (!this.ready.has(signature)) {
        await createTables(client, this.options.table);
        await addColumns(client, this.options.table, columns);
        this.ready.add(signature);
      }
      await client.query("BEGIN");
      try {
        await this.insertPart(client, duck, part, footer, columns);
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      }
    } catch (error) {
      failed = true;
      // A table dropped or altered behind our back: look again next time.
      this.ready.clear();
      if (error instanceof ColumnConflict || error instanceof BadPart) throw error;
      throw new Error(
        `could not copy prediction log part ${part.key} to ${this.target}: ${firstLine(error)}`,
        { cause: error },
      );
    } finally {
      // After a failure the connection may be broken: a new one for the next part.
      client?.release(failed);
    }
  }

  isPermanent(error: unknown): boolean {
    return error instanceof ColumnConflict || error instanceof BadPart;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    if (pool && !pool.ended) await pool.end();
    if (this.engine) {
      const { closeDuckDB } = await import("../../../duckdb/instance.js");
      await closeDuckDB(this.engine.catch(() => undefined) as Promise<DuckDBEngine>);
      this.engine = undefined;
    }
  }

  private async insertPart(
    client: pg.ClientBase,
    duck: DuckDBConnection,
    part: LocalPart,
    footer: PartFooter,
    columns: FooterColumn[],
  ): Promise<void> {
    const { table } = this.options;
    const claimed = await client.query(
      `INSERT INTO ${qualified(partsTable(table))} (key, model, version, rows, inputs, outputs)
       VALUES ($1, $2, $3, 0, $4, $5) ON CONFLICT (key) DO NOTHING`,
      [
        part.key,
        footer.model,
        footer.version,
        JSON.stringify(footer.inputs),
        JSON.stringify(footer.outputs),
      ],
    );
    if (claimed.rowCount === 0) return; // in already: a retry of a part whose COMMIT went through
    const names = ["time", "model", "version", "mode", "id", ...columns.map((c) => c.name)];
    const arrayTypes = [
      "timestamp[]",
      "text[]",
      "text[]",
      "text[]",
      "text[]",
      ...columns.map((c) => `${POSTGRES_TYPES[c.type]}[]`),
    ];
    const aliases = names.map((_, i) => `c${i}`);
    const insert =
      `INSERT INTO ${qualified(table)} (${names.map(quote).join(", ")}) ` +
      `SELECT c0 AT TIME ZONE 'UTC', ${aliases.slice(1).join(", ")} FROM unnest(${arrayTypes
        .map((type, i) => `$${i + 1}::${type}`)
        .join(", ")}) AS u(${aliases.join(", ")})`;
    // Times as text with microseconds, 64-bit integers as text: exact, whatever their size.
    const select = [
      `strftime("time", '%Y-%m-%d %H:%M:%S.%f')`,
      "model",
      "version",
      "mode",
      "id",
      ...columns.map((c) =>
        c.type === "BIGINT" ? `CAST(${sqlIdentifier(c.name)} AS VARCHAR)` : sqlIdentifier(c.name),
      ),
    ].join(", ");
    const result = await duck.stream(`SELECT ${select} FROM read_parquet(${sqlString(part.file)})`);
    let batch: unknown[][] = names.map(() => []);
    let pending = 0;
    let rows = 0;
    let first: string | undefined;
    let last: string | undefined;
    const send = async () => {
      if (pending === 0) return;
      await client.query(insert, batch);
      rows += pending;
      batch = names.map(() => []);
      pending = 0;
    };
    for (;;) {
      const chunk = await result.fetchChunk();
      if (chunk === null || chunk.rowCount === 0) break;
      const values = chunk.getColumns();
      for (let c = 0; c < names.length; c++) {
        const out = batch[c];
        for (const value of values[c]) out.push(plain(value));
      }
      const times = values[0] as Array<string | null>;
      for (const time of times) {
        if (time === null) continue;
        if (first === undefined || time < first) first = time;
        if (last === undefined || time > last) last = time;
      }
      pending += chunk.rowCount;
      if (pending >= ROWS_PER_STATEMENT) await send();
    }
    await send();
    await client.query(
      `UPDATE ${qualified(partsTable(table))} SET rows = $2,
         first_time = $3::timestamp AT TIME ZONE 'UTC', last_time = $4::timestamp AT TIME ZONE 'UTC'
       WHERE key = $1`,
      [part.key, rows, first ?? null, last ?? null],
    );
  }

  private duckdb(): Promise<DuckDBConnection> {
    this.engine ??= import("../../../duckdb/instance.js").then(({ openDuckDB }) =>
      openDuckDB({ memoryLimit: "256MB", threads: 1 }),
    );
    return this.engine.then((engine) => engine.connection);
  }

  private async connect(): Promise<pg.PoolClient> {
    if (this.pool === undefined) {
      const pool = new pg.Pool({
        connectionString: this.options.connection,
        max: 1,
        connectionTimeoutMillis: 10_000,
        // A server that stops answering fails the part (kept locally) instead of hanging the log.
        query_timeout: 120_000,
        keepAlive: true,
      });
      // An idle connection dropped by the server must not crash the process.
      pool.on("error", () => undefined);
      pool.on("connect", (client) => client.on("error", () => undefined));
      this.pool = pool;
    }
    return this.pool.connect();
  }
}

/** A DuckDB value as pg sends it: only strings, numbers, booleans and null come out here. */
function plain(value: unknown): string | number | boolean | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "number" || typeof value === "string" || typeof value === "boolean")
    return value;
  return String(value);
}

/** The part's footer, checked: this format, and the model's columns. */
export async function readFooter(connection: DuckDBConnection, file: string): Promise<PartFooter> {
  let meta: Map<string, string>;
  try {
    const reader = await connection.runAndReadAll(
      `SELECT decode(key) AS key, decode(value) AS value FROM parquet_kv_metadata(${sqlString(file)})`,
    );
    meta = new Map(
      reader.getRowObjects().map((row) => [String(row.key), String(row.value)] as const),
    );
  } catch (error) {
    throw new BadPart(`${file} is not a readable Parquet file (${firstLine(error)})`);
  }
  const format = meta.get(META.format);
  if (format !== String(PREDICTION_LOG_FORMAT_VERSION))
    throw new BadPart(
      `${file} is not a prediction log file of format ${PREDICTION_LOG_FORMAT_VERSION} (${format === undefined ? "no format in its footer" : `format ${format}`})`,
    );
  const model = meta.get(META.model);
  const version = meta.get(META.version);
  if (model === undefined || version === undefined)
    throw new BadPart(`${file} names no model or version in its footer`);
  return {
    model,
    version,
    inputs: footerColumns(meta.get(META.inputs), file),
    outputs: footerColumns(meta.get(META.outputs), file),
  };
}

function footerColumns(text: string | undefined, file: string): FooterColumn[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text ?? "");
  } catch {
    throw new BadPart(`${file}: the columns in its footer are not JSON`);
  }
  if (
    !Array.isArray(parsed) ||
    !parsed.every(
      (column: unknown) =>
        typeof column === "object" &&
        column !== null &&
        typeof (column as FooterColumn).name === "string" &&
        Object.hasOwn(POSTGRES_TYPES, (column as FooterColumn).type),
    )
  )
    throw new BadPart(`${file}: the columns in its footer are not [{name, type}]`);
  return parsed as FooterColumn[];
}
