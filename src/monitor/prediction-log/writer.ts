/**
 * The prediction log's writer: predictions are queued in memory on the request path (a few
 * references, no copying, no I/O) and written off it, in batches, as small Parquet part files.
 *
 * File scheme: every flush writes, per model version and hour, one new part file
 *   <dir>/<model>/<yyyy-mm-dd>/<hh>-<host>-<pid>-<seq>.parquet
 * DuckDB writes it under a temporary name (…parquet.tmp) and it is renamed into place once
 * complete. A rename within a directory is atomic, so a reader (DuckDB's read_parquet over
 * a glob) only ever sees whole files, even while the process is writing; Parquet cannot be
 * appended to, which is why files roll instead. A process killed mid-write leaves only a
 * .tmp file, which the reader recognises and skips with a warning.
 */
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { Counter, type Registry } from "prom-client";
import {
  closeDuckDB,
  openDuckDB,
  sqlIdentifier,
  sqlString,
  type DuckDBEngine,
} from "../../duckdb/index.js";
import type { Logger } from "../../log/logger.js";
import type { ColumnarBatch, ModelInfo, PredictionValues } from "../../model/types.js";
import {
  META,
  PART_SUFFIX,
  PREDICTION_LOG_FORMAT_VERSION,
  TEMP_SUFFIX,
  layoutFor,
  modelDirName,
  type LogLayout,
  type LogMode,
  type LoggedColumn,
} from "./schema.js";

export interface PredictionLogOptions {
  /** Root directory: files go to <dir>/<model>/<yyyy-mm-dd>/. */
  dir: string;
  mode: LogMode;
  /** Share of predictions logged, 0..1 (1 = all). */
  sample: number;
  /** Queued rows are written at least this often. */
  flushMs: number;
  /** Most rows waiting in memory; beyond it new predictions are dropped (and counted). */
  queueRows: number;
  logger: Logger;
  /** Where the written/dropped counters go (the server's /metrics); none = not exported. */
  registry?: Registry;
}

/**
 * The ids of a batch's rows: one per row (ride_id, event ids), or one for the whole request
 * (rows then get "<id>:<row>" when there are several).
 */
export type RowIds = ReadonlyArray<string | undefined> | string;

interface Entry {
  time: number;
  info: ModelInfo;
  batch: ColumnarBatch;
  values: PredictionValues;
  ids: RowIds;
  /** The rows sampled; undefined = all of them. */
  rows: number[] | undefined;
  count: number;
}

// Next to the part file, named so that readers ignore it; removed once the part is written.
const STAGE_SUFFIX = ".stage.csv";

export class PredictionLog {
  private queue: Entry[] = [];
  private queued = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private engine: Promise<DuckDBEngine> | undefined;
  private closed = false;
  private seq = 0;
  private readonly layouts = new WeakMap<ModelInfo, LogLayout | null>();
  private readonly host = os.hostname().replace(/[^A-Za-z0-9.-]/g, "_");
  private readonly written: Counter<"model"> | undefined;
  private readonly dropped: Counter<"model"> | undefined;
  /** Totals, for tests and the shutdown line. */
  readonly totals = { written: 0, dropped: 0, files: 0 };

  constructor(private readonly options: PredictionLogOptions) {
    const { registry } = options;
    if (registry) {
      this.written = new Counter({
        name: "mldeploy_prediction_log_written_total",
        help: "Predictions written to the prediction log",
        labelNames: ["model"],
        registers: [registry],
      });
      this.dropped = new Counter({
        name: "mldeploy_prediction_log_dropped_total",
        help: "Predictions not logged because the prediction log's queue was full (the requests were answered)",
        labelNames: ["model"],
        registers: [registry],
      });
    }
    this.timer = setInterval(() => {
      if (!this.inFlight) void this.flush();
    }, options.flushMs);
    this.timer.unref();
  }

  /**
   * Queues a predicted batch (called on the request path: no I/O, no copy). Sampled rows that
   * do not fit in the queue are dropped and counted; it never throws.
   */
  record(info: ModelInfo, batch: ColumnarBatch, values: PredictionValues, ids: RowIds): void {
    if (this.closed || batch.rows === 0) return;
    if (this.layout(info) === null) return;
    const { sample } = this.options;
    let rows: number[] | undefined;
    let count = batch.rows;
    if (sample < 1) {
      rows = [];
      for (let row = 0; row < batch.rows; row++) if (Math.random() < sample) rows.push(row);
      count = rows.length;
      if (count === 0) return;
    }
    if (this.queued + count > this.options.queueRows) {
      this.totals.dropped += count;
      this.dropped?.inc({ model: info.name }, count);
      return;
    }
    this.queue.push({ time: Date.now(), info, batch, values, ids, rows, count });
    this.queued += count;
    // Half full: write now rather than wait for the timer, so a burst does not fill it up.
    if (!this.inFlight && this.queued * 2 >= this.options.queueRows) void this.flush();
  }

  /**
   * Writes what is queued now, after the write in progress if any; resolves when it is on
   * disk. One write at a time: while it runs, new predictions wait in the queue, which is the
   * only buffer (so memory stays bounded by queueRows, and a log that cannot keep up drops).
   */
  async flush(): Promise<void> {
    while (this.inFlight) await this.inFlight;
    if (this.queue.length === 0) return;
    const entries = this.queue;
    this.queue = [];
    this.queued = 0;
    this.inFlight = this.write(entries)
      .catch((error: unknown) => {
        // A full disk or a bad directory must not stop serving: the rows are lost, and said so.
        const rows = entries.reduce((sum, entry) => sum + entry.count, 0);
        this.totals.dropped += rows;
        for (const entry of entries) this.dropped?.inc({ model: entry.info.name }, entry.count);
        this.options.logger.error(
          { err: error, rows, dir: this.options.dir },
          `prediction log: could not write ${rows} predictions to ${this.options.dir}`,
        );
      })
      .finally(() => {
        this.inFlight = undefined;
        // What queued up meanwhile goes next if it is already half the queue.
        if (!this.closed && this.queued * 2 >= this.options.queueRows) void this.flush();
      });
    await this.inFlight;
  }

  /** Stops the timer, writes everything queued, releases DuckDB. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.flush();
    await closeDuckDB(this.engine);
    this.engine = undefined;
  }

  private layout(info: ModelInfo): LogLayout | null {
    let layout = this.layouts.get(info);
    if (layout === undefined) {
      try {
        layout = layoutFor(info);
      } catch (error) {
        layout = null;
        this.options.logger.warn(
          { err: error },
          `prediction log: not logging model ${info.name}: ${(error as Error).message}`,
        );
      }
      this.layouts.set(info, layout);
    }
    return layout;
  }

  private async write(entries: Entry[]): Promise<void> {
    // One file per model version and hour: entries in order, so groups keep their order.
    const groups = new Map<string, Entry[]>();
    for (const entry of entries) {
      const hour = new Date(entry.time).toISOString().slice(0, 13);
      const key = `${entry.info.name}\u0000${entry.info.version}\u0000${hour}`;
      const group = groups.get(key);
      if (group) group.push(entry);
      else groups.set(key, [entry]);
    }
    this.engine ??= openDuckDB({ memoryLimit: "256MB", threads: 1 });
    const { connection } = await this.engine;
    for (const group of groups.values()) await this.writeFile(connection, group);
  }

  private async writeFile(connection: DuckDBConnection, entries: Entry[]): Promise<void> {
    const { info, time } = entries[0];
    const layout = this.layout(info);
    if (!layout) return;
    const iso = new Date(time).toISOString();
    const folder = path.join(this.options.dir, modelDirName(info.name), iso.slice(0, 10));
    const seq = String(++this.seq).padStart(6, "0");
    const name = `${iso.slice(11, 13)}-${this.host}-${process.pid}-${seq}`;
    const final = path.join(folder, name + PART_SUFFIX);
    const temp = path.join(folder, name + TEMP_SUFFIX);
    await mkdir(folder, { recursive: true });
    const columns = [...layout.inputs, ...layout.outputs];
    // Staged as CSV text: building it is the only work left on the main thread (DuckDB's
    // appender inserts synchronously, and cost ~8 µs a row there; text costs well under 1).
    // DuckDB parses it and writes the Parquet file on its own thread.
    const stage = path.join(folder, name + STAGE_SUFFIX);
    const rows = entries.reduce((sum, entry) => sum + entry.count, 0);
    await writeFile(stage, csvText(entries, layout));
    try {
      const types = [
        `'time_ms': 'DOUBLE'`,
        `'id': 'VARCHAR'`,
        ...columns.map(
          (column) =>
            `${sqlString(column.name)}: '${column.holds === "number" ? "DOUBLE" : column.sqlType}'`,
        ),
      ].join(", ");
      const source = `read_csv(${sqlString(stage)}, header = false, delim = ',', quote = '"', escape = '"', nullstr = '', allow_quoted_nulls = false, columns = {${types}})`;
      const select = [
        "make_timestamp(CAST(round(time_ms * 1000) AS BIGINT)) AS time",
        `${sqlString(info.name)} AS model`,
        `${sqlString(info.version)} AS version`,
        `${sqlString(this.options.mode)} AS mode`,
        "id",
        ...columns.map((column) => castColumn(column)),
      ].join(", ");
      const metadata = {
        [META.format]: String(PREDICTION_LOG_FORMAT_VERSION),
        [META.model]: info.name,
        [META.version]: info.version,
        [META.inputs]: JSON.stringify(
          layout.inputs.map(({ name, sqlType }) => ({ name, type: sqlType })),
        ),
        [META.outputs]: JSON.stringify(
          layout.outputs.map(({ name, sqlType }) => ({ name, type: sqlType })),
        ),
      };
      const kv = Object.entries(metadata)
        .map(([key, value]) => `${sqlIdentifier(key)}: ${sqlString(value)}`)
        .join(", ");
      try {
        await connection.run(
          `COPY (SELECT ${select} FROM ${source}) TO ${sqlString(temp)} (FORMAT parquet, KV_METADATA {${kv}})`,
        );
        await rename(temp, final);
      } catch (error) {
        await rm(temp, { force: true });
        throw error;
      }
      this.totals.written += rows;
      this.totals.files++;
      for (const entry of entries) this.written?.inc({ model: info.name }, entry.count);
    } finally {
      await rm(stage, { force: true });
    }
  }
}

function castColumn(column: LoggedColumn): string {
  const name = sqlIdentifier(column.name);
  if (column.holds !== "number" || column.sqlType === "DOUBLE") return name;
  return `CAST(${name} AS ${column.sqlType}) AS ${name}`;
}

/** The queued rows as CSV lines: time, id, inputs, outputs (NULL as an empty field). */
function csvText(entries: Entry[], layout: LogLayout): string {
  const parts: string[] = [];
  for (const entry of entries) {
    const { batch, values, ids, rows, count } = entry;
    const inputs = layout.inputs.map((column) => batch.columns[column.name]);
    for (let i = 0; i < count; i++) {
      const row = rows ? rows[i] : i;
      let line = `${entry.time},${csvCell(rowId(ids, row, batch.rows))}`;
      for (const column of inputs) line += `,${csvCell(cell(column, row))}`;
      parts.push(`${line},${csvCell(cell(values, row))}\n`);
    }
  }
  return parts.join("");
}

function csvCell(value: number | string | boolean | null): string {
  if (value === null) return "";
  if (typeof value === "string") return `"${value.replaceAll('"', '""')}"`;
  return String(value);
}

function rowId(ids: RowIds, row: number, rows: number): string | null {
  if (typeof ids === "string") return rows === 1 ? ids : `${ids}:${row}`;
  return ids[row] ?? null;
}

/** A value of a column as DuckDB takes it; NaN (a missing optional number) becomes NULL. */
function cell(
  column: ArrayLike<number | string | boolean> | undefined,
  row: number,
): number | string | boolean | null {
  if (column === undefined) return null;
  const value = column[row];
  return typeof value === "number" && Number.isNaN(value) ? null : value;
}
