/**
 * The prediction log's writer: predictions are copied into a bounded in-memory queue on the
 * request path (a few array pushes per row, no I/O) and written off it, in batches, as small
 * Parquet part files (DuckDB, on its own thread, from a CSV text stage).
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
import type { DuckDBEngine } from "../../duckdb/instance.js";
import { sqlIdentifier, sqlString } from "../../duckdb/sql.js";
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
import type { PartPublisher } from "./publisher.js";
import { openPartPublisher } from "./sinks/index.js";

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
  /** The request field that names each row (serve's --log-id-field); default ride_id. */
  idField?: string;
  /** Copies finished parts to S3 or PostgreSQL (see publisher.ts); none = local files only. */
  publisher?: PartPublisher;
}

/**
 * The ids of a batch's rows: one per row (ride_id, event ids), or one for the whole request
 * (rows then get "<id>:<row>" when there are several).
 */
export type RowIds = ReadonlyArray<string | undefined> | string;

/**
 * Rows of one model version and hour, copied into plain arrays as they are recorded: a
 * request's objects are not kept alive until the flush (which cost the garbage collector
 * more than the copy), and numbers stay unboxed. Missing numbers are NaN.
 */
interface Segment {
  info: ModelInfo;
  layout: LogLayout;
  hour: number;
  times: number[];
  ids: Array<string | null>;
  /** Inputs, then the output. */
  columns: Array<Array<number | string | boolean | null>>;
  rows: number;
}

// Next to the part file, named so that readers ignore it; removed once the part is written.
const STAGE_SUFFIX = ".stage.csv";

export class PredictionLog {
  /** The segment each model is recording into now, and full or past-hour ones. */
  private open = new Map<ModelInfo, Segment>();
  private sealed: Segment[] = [];
  private queued = 0;
  /**
   * Ids of rows whose request named none: a random prefix drawn at start and a counter (short:
   * it is written for every row; the file name already says host and pid).
   */
  private readonly idPrefix = `${Math.random().toString(36).slice(2, 10)}-`;
  private counter = 0;
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

  /** The request field that names each row (see predictionIds in serve). */
  get idField(): string {
    return this.options.idField ?? "ride_id";
  }

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
   * Queues a predicted batch (called on the request path: no I/O). Sampled rows that do not
   * fit in the queue are dropped and counted; it never throws. `ids`: see RowIds; absent, the
   * rows get ids unique to this process.
   */
  record(info: ModelInfo, batch: ColumnarBatch, values: PredictionValues, ids?: RowIds): void {
    if (this.closed || batch.rows === 0) return;
    const layout = this.layout(info);
    if (layout === null) return;
    const { sample, queueRows } = this.options;
    let picked: number[] | undefined;
    let count = batch.rows;
    if (sample < 1) {
      picked = [];
      for (let row = 0; row < batch.rows; row++) if (Math.random() < sample) picked.push(row);
      count = picked.length;
      if (count === 0) return;
    }
    if (this.queued + count > queueRows) {
      this.totals.dropped += count;
      this.dropped?.inc({ model: info.name }, count);
      return;
    }
    const now = Date.now();
    const hour = Math.floor(now / 3_600_000);
    let segment = this.open.get(info);
    if (segment === undefined || segment.hour !== hour) {
      if (segment) this.sealed.push(segment);
      segment = {
        info,
        layout,
        hour,
        times: [],
        ids: [],
        columns: [...layout.inputs, ...layout.outputs].map(() => []),
        rows: 0,
      };
      this.open.set(info, segment);
    }
    const inputs = layout.inputs.map((column) => batch.columns[column.name]);
    const { times, ids: idColumn, columns } = segment;
    const output = columns.length - 1;
    for (let i = 0; i < count; i++) {
      const row = picked ? picked[i] : i;
      times.push(now);
      idColumn.push(
        ids === undefined
          ? this.idPrefix + ++this.counter
          : typeof ids === "string"
            ? batch.rows === 1
              ? ids
              : `${ids}:${row}`
            : (ids[row] ?? null),
      );
      for (let c = 0; c < inputs.length; c++) columns[c].push(cell(inputs[c], row));
      columns[output].push(cell(values, row));
    }
    segment.rows += count;
    this.queued += count;
    // Half full: write now rather than wait for the timer, so a burst does not fill it up.
    if (!this.inFlight && this.queued * 2 >= queueRows) void this.flush();
  }

  /**
   * Writes what is queued now, after the write in progress if any; resolves when it is on
   * disk. One write at a time: while it runs, new predictions wait in the queue, which is the
   * only buffer (so memory stays bounded by queueRows, and a log that cannot keep up drops).
   */
  async flush(): Promise<void> {
    while (this.inFlight) await this.inFlight;
    if (this.queued === 0) return;
    const segments = [...this.sealed, ...this.open.values()];
    this.sealed = [];
    this.open = new Map();
    this.queued = 0;
    this.inFlight = this.write(segments)
      .catch((error: unknown) => {
        // A full disk or a bad directory must not stop serving: the rows are lost, and said so.
        const rows = segments.reduce((sum, segment) => sum + segment.rows, 0);
        this.totals.dropped += rows;
        for (const segment of segments)
          this.dropped?.inc({ model: segment.info.name }, segment.rows);
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
    if (this.engine !== undefined) {
      const { closeDuckDB } = await import("../../duckdb/instance.js");
      await closeDuckDB(this.engine);
      this.engine = undefined;
    }
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

  private async write(segments: Segment[]): Promise<void> {
    // DuckDB's native module is loaded at the first write: a server that logs nothing (the log
    // off, or no prediction yet) does not pay its start-up time and memory.
    this.engine ??= import("../../duckdb/instance.js").then(({ openDuckDB }) =>
      openDuckDB({ memoryLimit: "256MB", threads: 1 }),
    );
    const { connection } = await this.engine;
    for (const segment of segments) await this.writeFile(connection, segment);
  }

  /** One part file: <dir>/<model>/<yyyy-mm-dd>/<hh>-<host>-<pid>-<seq>.parquet. */
  private async writeFile(connection: DuckDBConnection, segment: Segment): Promise<void> {
    const { info, layout, rows } = segment;
    const iso = new Date(segment.hour * 3_600_000).toISOString();
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
    await writeFile(stage, csvText(segment));
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
      this.written?.inc({ model: info.name }, rows);
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

/** A segment's rows as CSV lines: time, id, inputs, outputs (NULL as an empty field). */
function csvText(segment: Segment): string {
  const { times, ids, columns, rows } = segment;
  const parts: string[] = [];
  for (let row = 0; row < rows; row++) {
    let line = `${times[row]},${csvCell(ids[row])}`;
    for (const column of columns) line += `,${csvCell(column[row])}`;
    parts.push(line + "\n");
  }
  return parts.join("");
}

function csvCell(value: number | string | boolean | null): string {
  if (value === null) return "";
  if (typeof value === "string") return `"${value.replaceAll('"', '""')}"`;
  if (typeof value === "number" && Number.isNaN(value)) return "";
  return String(value);
}

/** A row's value of a column (NaN, a missing optional number, is written as NULL). */
function cell(
  column: ArrayLike<number | string | boolean> | undefined,
  row: number,
): number | string | boolean | null {
  if (column === undefined) return null;
  return column[row] ?? null;
}

/** The settings' form of the log (see options.ts): what serve and stream are configured with. */
export interface PredictionLogSettings {
  logPredictions: boolean;
  logPredictionsDir?: string;
  logSample: number;
  logFlushMs: number;
  logQueueRows: number;
  logIdField?: string;
  logPredictionsTo?: string;
}

/** The prediction log the settings ask for, or undefined when it is off. */
export function openPredictionLog(
  settings: PredictionLogSettings,
  context: { mode: LogMode; defaultDir: string; logger: Logger; registry?: Registry },
): PredictionLog | undefined {
  if (!settings.logPredictions) {
    if (settings.logPredictionsTo !== undefined)
      context.logger.warn(
        "--log-predictions-to is set but --log-predictions is off: no prediction is logged",
      );
    return undefined;
  }
  const dir = settings.logPredictionsDir ?? context.defaultDir;
  return new PredictionLog({
    dir,
    mode: context.mode,
    sample: settings.logSample,
    flushMs: settings.logFlushMs,
    queueRows: settings.logQueueRows,
    logger: context.logger,
    registry: context.registry,
    idField: settings.logIdField,
    publisher:
      settings.logPredictionsTo === undefined
        ? undefined
        : openPartPublisher(settings.logPredictionsTo, { dir, logger: context.logger }),
  });
}
