import { materialize } from "../columns.js";
import type { BatchSink, Checkpoint, PredictionChunk, SinkWrite } from "../types.js";
import { decodeCheckpoint, encodeKey } from "./checkpoint-codec.js";
import { Params, type SqlDialect } from "./dialect.js";
import { UserError } from "../../config/errors.js";
import {
  MAX_IDENTIFIER_LENGTH,
  displayName,
  qualified,
  quote,
  sibling,
  tableName,
  type TableName,
} from "./identifiers.js";
import {
  CHECKPOINT_TABLE,
  checkColumns,
  checkpointLayout,
  createTableSql,
  predictionColumnNames,
  predictionLayout,
  rejectLayout,
  type TableLayout,
} from "./sink-tables.js";

/** A column of an upsert: one value per row (`each`) or one for all rows (`all`). */
export type UpsertColumn = { name: string; type: string } & (
  { each: readonly unknown[] } | { all: unknown }
);

export interface Upsert {
  table: TableName;
  /** The conflict target (the table's primary key). */
  key: readonly string[];
  rows: number;
  columns: readonly UpsertColumn[];
}

export interface SinkTransaction {
  upsert(upsert: Upsert): Promise<void>;
}

/** What a SQL sink needs from its driver. */
export interface SinkDriver {
  readonly dialect: SqlDialect;
  /** Runs CREATE TABLE IF NOT EXISTS statements, serialized with other writers of the database. */
  create(statements: readonly string[]): Promise<void>;
  /** Column name → SQL type of a table, or undefined when it does not exist. */
  columns(table: TableName): Promise<Map<string, string> | undefined>;
  rows(sql: string, values: readonly unknown[]): Promise<unknown[][]>;
  run(sql: string, values: readonly unknown[]): Promise<void>;
  /** One transaction: committed when fn resolves, rolled back when it throws. */
  transaction(fn: (tx: SinkTransaction) => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

const REJECTS_SUFFIX = "_rejects";

/** The --sink-table name, short enough that `<table>_rejects` is a valid identifier too. */
export function sinkTable(value: string): TableName {
  const table = tableName(value, "--sink-table");
  if (table.name.length + REJECTS_SUFFIX.length > MAX_IDENTIFIER_LENGTH) {
    throw new UserError(
      `--sink-table ${value}: at most ${MAX_IDENTIFIER_LENGTH - REJECTS_SUFFIX.length} characters, ` +
        `so that ${table.name}${REJECTS_SUFFIX} fits too`,
    );
  }
  return table;
}

/** `ON CONFLICT (key) DO UPDATE SET c = excluded.c, …` for the non-key columns. */
export function onConflict(key: readonly string[], columns: readonly string[]): string {
  const updates = columns.filter((name) => !key.includes(name));
  const target = `ON CONFLICT (${key.map(quote).join(", ")})`;
  if (updates.length === 0) return `${target} DO NOTHING`;
  return `${target} DO UPDATE SET ${updates.map((name) => `${quote(name)} = excluded.${quote(name)}`).join(", ")}`;
}

/** A table as it exists in the database, with its column types. */
interface ReadyTable {
  layout: TableLayout;
  types: Map<string, string>;
}

/** Upsert columns typed from the table as it exists (PostgreSQL casts each parameter). */
function columnsOf(table: ReadyTable) {
  const type = (name: string) => table.types.get(name) ?? "";
  return {
    each: (name: string, values: readonly unknown[]): UpsertColumn => ({
      name,
      type: type(name),
      each: values,
    }),
    all: (name: string, value: unknown): UpsertColumn => ({ name, type: type(name), all: value }),
  };
}

function sameLengths(write: SinkWrite): void {
  const { predictions: p, rejects: r } = write;
  const rows = p.ids.length;
  const bad =
    p.predictions.length !== rows ||
    Object.values(p.extra).some((values) => values.length !== rows) ||
    r.reasons.length !== r.ids.length ||
    r.rows.length !== r.ids.length;
  // A caller bug, not a user mistake: refuse before anything is written.
  if (bad) throw new Error(`sink write for ${write.jobId}: column arrays of different lengths`);
}

/**
 * Text labels (a classifier's) cannot go into the numeric prediction column of a table made
 * for a regressor: PostgreSQL would refuse them mid-run and SQLite keep them in a REAL column.
 */
function checkPredictionType(
  layout: TableLayout,
  types: ReadonlyMap<string, string>,
  chunk: PredictionChunk,
): void {
  const type = types.get(chunk.predictionColumn);
  if (chunk.predictions instanceof Float64Array || type === undefined) return;
  if (/real|double|float|numeric|decimal|int/i.test(type)) {
    throw new UserError(
      `table ${displayName(layout.table)} column ${chunk.predictionColumn} is ${type}, but this model predicts text labels: ` +
        "drop the table or write to another --sink-table",
    );
  }
}

/**
 * A table of a SQL database as a BatchSink: predictions in `<table>`, rejects in
 * `<table>_rejects` and checkpoints in `mldeploy_batch_checkpoints`, all in the table's schema.
 * Both dialects share this class; drivers run the statements.
 */
export class SqlSink implements BatchSink {
  private readonly rejectTable: TableLayout;
  private readonly checkpointTable: TableLayout;
  private base: Promise<{ rejects: ReadyTable; checkpoints: ReadyTable }> | undefined;
  private predictions: ReadyTable | undefined;

  constructor(
    private readonly driver: SinkDriver,
    private readonly table: TableName,
    readonly description: string,
  ) {
    this.rejectTable = rejectLayout(sibling(table, `${table.name}${REJECTS_SUFFIX}`));
    this.checkpointTable = checkpointLayout(sibling(table, CHECKPOINT_TABLE));
  }

  async prepare(jobId: string): Promise<Checkpoint | undefined> {
    const { checkpoints } = await this.baseTables();
    const params = new Params(this.driver.dialect);
    const rows = await this.driver.rows(
      `SELECT ${quote("since")}, ${quote("id")} FROM ${qualified(checkpoints.layout.table)} WHERE ${quote("job_id")} = ${params.add(jobId)}`,
      params.values,
    );
    return rows.length === 0 ? undefined : decodeCheckpoint(rows[0][0], rows[0][1]);
  }

  async write(write: SinkWrite): Promise<void> {
    sameLengths(write);
    const { rejects, checkpoints } = await this.baseTables();
    const p = write.predictions;
    // The prediction table waits for a chunk with predictions: column types come from values,
    // and a chunk whose rows were all rejected has none.
    const predictions = p.ids.length > 0 ? await this.predictionTable(write) : undefined;
    await this.driver.transaction(async (tx) => {
      if (predictions !== undefined) {
        const { each, all } = columnsOf(predictions);
        await tx.upsert({
          table: predictions.layout.table,
          key: predictions.layout.key,
          rows: p.ids.length,
          columns: [
            each(p.idColumn, p.ids),
            ...Object.keys(p.extra).map((name) => each(name, materialize(p.extra[name]))),
            // pg would send a Float64Array as bytes, not as an array of numbers.
            each(
              p.predictionColumn,
              p.predictions instanceof Float64Array ? Array.from(p.predictions) : p.predictions,
            ),
            all("model_name", p.modelName),
            all("model_version", p.modelVersion),
            all("run_id", p.runId ?? null),
            all("scored_at", p.scoredAt),
          ],
        });
      }
      const r = write.rejects;
      if (r.ids.length > 0) {
        const { each, all } = columnsOf(rejects);
        await tx.upsert({
          table: rejects.layout.table,
          key: rejects.layout.key,
          rows: r.ids.length,
          columns: [
            each("id", r.ids.map(String)),
            all("model_version", p.modelVersion),
            each("reason", r.reasons),
            each("row", r.rows),
            all("rejected_at", p.scoredAt),
          ],
        });
      }
      if (write.checkpoint === undefined) return;
      const { all } = columnsOf(checkpoints);
      const { since, id } = write.checkpoint;
      await tx.upsert({
        table: checkpoints.layout.table,
        key: checkpoints.layout.key,
        rows: 1,
        columns: [
          all("job_id", write.jobId),
          all("since", since === undefined ? null : encodeKey(since)),
          all("id", encodeKey(id)),
          all("updated_at", new Date().toISOString()),
        ],
      });
    });
  }

  async resetCheckpoint(jobId: string): Promise<void> {
    const { checkpoints } = await this.baseTables();
    const params = new Params(this.driver.dialect);
    await this.driver.run(
      `DELETE FROM ${qualified(checkpoints.layout.table)} WHERE ${quote("job_id")} = ${params.add(jobId)}`,
      params.values,
    );
  }

  close(): Promise<void> {
    return this.driver.close();
  }

  /** Creates (or checks) the reject and checkpoint tables, once per sink. */
  private baseTables(): Promise<{ rejects: ReadyTable; checkpoints: ReadyTable }> {
    this.base ??= (async () => {
      const [rejects, checkpoints] = [this.rejectTable, this.checkpointTable];
      await this.driver.create([
        createTableSql(this.driver.dialect, rejects),
        createTableSql(this.driver.dialect, checkpoints),
      ]);
      return { rejects: await this.ready(rejects), checkpoints: await this.ready(checkpoints) };
    })();
    // A failed attempt (e.g. the database was down) is retried by the next call.
    this.base.catch(() => (this.base = undefined));
    return this.base;
  }

  /** The prediction table, created from the first chunk with predictions; later chunks are checked against it. */
  private async predictionTable(write: SinkWrite): Promise<ReadyTable> {
    const p = write.predictions;
    if (this.predictions === undefined) {
      const layout = predictionLayout(this.table, p);
      await this.driver.create([createTableSql(this.driver.dialect, layout)]);
      this.predictions = await this.ready(layout);
    }
    const { layout, types } = this.predictions;
    // Every column this chunk writes, even if it differs from the first chunk's.
    checkColumns(layout, types, predictionColumnNames(p));
    checkPredictionType(layout, types, p);
    return this.predictions;
  }

  private async ready(layout: TableLayout): Promise<ReadyTable> {
    const types = (await this.driver.columns(layout.table)) ?? new Map<string, string>();
    checkColumns(layout, types);
    return { layout, types };
  }
}
