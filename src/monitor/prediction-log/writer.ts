/**
 * The prediction log's writer: predictions are copied into a bounded in-memory queue on the
 * request path (typed arrays, a few stores per row, no I/O, no object per row) and written off
 * it, in batches, as small Parquet part files encoded straight from those arrays
 * (parquet-part.ts: a few memory copies, no text stage, no DuckDB on the write path).
 *
 * File scheme: every flush writes, per model version and hour, one new part file
 *   <dir>/<model>/<yyyy-mm-dd>/<hh>-<host>-<pid>-<seq>.parquet
 * under a temporary name (…parquet.tmp), renamed into place once complete. A rename within a
 * directory is atomic, so a reader only ever sees whole files, even while the process is
 * writing; Parquet cannot be appended to, which is why files roll instead. A process killed
 * mid-write leaves only a .tmp file, which the reader recognises and skips with a warning.
 * Once an hour is over (and at a graceful stop), the process merges its parts of that hour
 * into one file <hh>-<host>-<pid>.parquet (compaction.ts; DuckDB is loaded for it then). At its
 * first pass and then once an hour, it also merges the parts of processes that are gone
 * (orphans.ts).
 */
import { mkdir, open, rename, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Counter, type Registry } from "prom-client";
import type { DuckDBConnection } from "@duckdb/node-api";
import type { DuckDBEngine } from "../../duckdb/instance.js";
import type { Logger } from "../../log/logger.js";
import type { ColumnarBatch, ModelInfo, PredictionValues } from "../../model/types.js";
import {
  META,
  PART_SUFFIX,
  PREDICTION_LOG_FORMAT_VERSION,
  TEMP_SUFFIX,
  hostField,
  layoutFor,
  modelDirName,
  partFileName,
  type LogLayout,
  type LogMode,
  type LoggedColumn,
} from "./schema.js";
import type { PartPublisher } from "./publisher.js";
import { openPartPublisher } from "./sinks/index.js";
import { encodeParquetPart, type PartColumn } from "./parquet-part.js";
import { ReplacedWhileMerging, compactHour, listHourFiles, mergedThrough } from "./compaction.js";
import { ORPHAN_KEYS_PER_PASS, adoptTemp, findOrphans, type Orphan } from "./orphans.js";

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
  /**
   * How long merged parts stay on disk after their hour's merged file is in place, for readers
   * that listed them just before (they ignore them once the merged file is there). Default 60 s;
   * a graceful stop deletes them at once.
   */
  compactGraceMs?: number;
  /** Merge each finished hour's parts into one file (default true; never with a publisher). */
  compact?: boolean;
  /** The clock (ms since the epoch), for tests that cross an hour. */
  now?: () => number;
}

/**
 * The ids of a batch's rows: one per row (ride_id, event ids), or one for the whole request
 * (rows then get "<id>:<row>" when there are several).
 */
export type RowIds = ReadonlyArray<string | undefined> | string;

const HOUR_MS = 3_600_000;
const FIRST_CAPACITY = 1024;
/** When a pass left orphaned keys for later (more than ORPHAN_KEYS_PER_PASS), the next is due. */
const ORPHAN_BACKLOG_MS = 10 * 60_000;

/** How a logged column is held before the flush, and where its values come from. */
interface ColumnPlan {
  column: LoggedColumn;
  holds: "number" | "string" | "boolean";
}

/** A model's log layout with what record() needs at hand. */
interface Plan {
  layout: LogLayout;
  inputs: ColumnPlan[];
  output: ColumnPlan;
  /** A classifier's probability columns, in class order (none for other models). */
  probabilities: ColumnPlan[];
}

type Store = Float64Array | Uint8Array | Array<string | null>;

/**
 * Rows of one model version and hour, copied into typed arrays as they are recorded: a
 * request's objects are not kept alive until the flush, numbers stay unboxed, and no object is
 * made per row. Missing numbers are NaN; missing booleans 2.
 */
interface Segment {
  info: ModelInfo;
  plan: Plan;
  hour: number;
  rows: number;
  capacity: number;
  times: Float64Array;
  /** A string id, or the number of an id drawn by this process (written as prefix + number). */
  ids: Array<string | number | null>;
  /** Inputs, then the output, then the probabilities. */
  stores: Store[];
}

function newStore(holds: ColumnPlan["holds"], capacity: number): Store {
  if (holds === "number") return new Float64Array(capacity);
  if (holds === "boolean") return new Uint8Array(capacity);
  return [];
}

function grow(segment: Segment, needed: number): void {
  let capacity = segment.capacity;
  while (capacity < needed) capacity *= 2;
  const times = new Float64Array(capacity);
  times.set(segment.times.subarray(0, segment.rows));
  segment.times = times;
  segment.stores = segment.stores.map((store) => {
    if (Array.isArray(store)) return store;
    const bigger =
      store instanceof Float64Array ? new Float64Array(capacity) : new Uint8Array(capacity);
    bigger.set(store.subarray(0, segment.rows));
    return bigger;
  });
  segment.capacity = capacity;
}

/** Stores row `row` of `source` (a request column or the predictions) at `at`. */
function put(
  store: Store,
  holds: ColumnPlan["holds"],
  at: number,
  source: ArrayLike<number | string | boolean> | undefined,
  row: number,
): void {
  const value = source === undefined ? undefined : source[row];
  if (holds === "number") (store as Float64Array)[at] = typeof value === "number" ? value : NaN;
  else if (holds === "boolean")
    (store as Uint8Array)[at] = value === true ? 1 : value === false ? 0 : 2;
  else (store as Array<string | null>)[at] = typeof value === "string" ? value : null;
}

/** A finished hour of this process, to merge once it is over. */
interface PendingHour {
  folder: string;
  key: string;
  hour: number;
}

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
  /** Next part number per <folder>/<key>, continuing numbers already on disk. */
  private readonly seqs = new Map<string, number>();
  private readonly pending = new Map<string, PendingHour>();
  private compacting: Promise<void> | undefined;
  /** When the next pass looks for orphaned keys (the first pass does, then one an hour). */
  private orphansDueAt = -Infinity;
  /** Merged parts waiting out the grace period before they are deleted. */
  private obsolete: Array<{ files: string[]; after: number }> = [];
  private publishing: Promise<void> = Promise.resolve();
  private readonly plans = new WeakMap<ModelInfo, Plan | null>();
  private readonly host = hostField(os.hostname());
  private readonly now: () => number;
  private readonly written: Counter<"model"> | undefined;
  private readonly dropped: Counter<"model"> | undefined;
  private readonly publishFailures: Counter<"model"> | undefined;
  /** Totals, for tests and the shutdown line. */
  readonly totals = { written: 0, dropped: 0, files: 0, merged: 0, adopted: 0 };

  /** The request field that names each row (see predictionIds in serve). */
  get idField(): string {
    return this.options.idField ?? "ride_id";
  }

  constructor(private readonly options: PredictionLogOptions) {
    this.now = options.now ?? (() => Date.now());
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
      this.publishFailures = new Counter({
        name: "mldeploy_prediction_log_publish_failures_total",
        help: "Prediction log part files that could not be copied to the log's sink (kept on local disk)",
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
   * rows get ids unique to this process. `probabilities`: a classifier's, row-major [rows,
   * classes] (absent, its probability columns are NULL).
   */
  record(
    info: ModelInfo,
    batch: ColumnarBatch,
    values: PredictionValues,
    ids?: RowIds,
    probabilities?: Float64Array,
  ): void {
    if (this.closed || batch.rows === 0) return;
    const plan = this.plan(info);
    if (plan === null) return;
    const { sample, queueRows } = this.options;
    // Sampled rows are drawn first; the batch is then queued whole or dropped whole.
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
    const now = this.now();
    const hour = Math.floor(now / HOUR_MS);
    let segment = this.open.get(info);
    if (segment === undefined || segment.hour !== hour) {
      if (segment) this.sealed.push(segment);
      segment = {
        info,
        plan,
        hour,
        rows: 0,
        capacity: FIRST_CAPACITY,
        times: new Float64Array(FIRST_CAPACITY),
        ids: [],
        stores: [...plan.inputs, plan.output, ...plan.probabilities].map((each) =>
          newStore(each.holds, FIRST_CAPACITY),
        ),
      };
      this.open.set(info, segment);
    }
    if (segment.rows + count > segment.capacity) grow(segment, segment.rows + count);
    const { inputs, output } = plan;
    const classes = plan.probabilities.length;
    const { columns } = batch;
    const { times, ids: idStore, stores } = segment;
    let at = segment.rows;
    for (let i = 0; i < count; i++, at++) {
      const row = picked === undefined ? i : picked[i];
      times[at] = now;
      idStore[at] =
        ids === undefined
          ? ++this.counter
          : typeof ids === "string"
            ? batch.rows === 1
              ? ids
              : `${ids}:${row}`
            : (ids[row] ?? null);
      for (let c = 0; c < inputs.length; c++)
        put(stores[c], inputs[c].holds, at, columns[inputs[c].column.name], row);
      put(stores[inputs.length], output.holds, at, values, row);
      for (let k = 0; k < classes; k++) {
        (stores[inputs.length + 1 + k] as Float64Array)[at] =
          probabilities === undefined ? NaN : probabilities[row * classes + k];
      }
    }
    segment.rows = at;
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
    if (this.queued === 0) {
      this.compactFinishedHours();
      return;
    }
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
        else if (!this.closed) this.compactFinishedHours();
      });
    await this.inFlight;
  }

  /**
   * Merges, in the background, this process's parts of every hour that is over and has
   * nothing left in the queue, and deletes merged parts whose grace period is over; the first
   * pass, then the first of each hour, also merges orphaned keys (orphans.ts). One pass at a
   * time; resolves when the pass in progress (if any) is done.
   */
  compactFinishedHours(final = false): Promise<void> {
    // Parts copied out to S3/PostgreSQL leave the local disk one by one: the copy is the log,
    // and a merged local file would be copied nowhere (the parts a failed copy keeps stay parts,
    // which read the same).
    if (this.options.publisher || this.options.compact === false) return Promise.resolve();
    if (this.compacting) return this.compacting;
    const hour = Math.floor(this.now() / HOUR_MS);
    const queuedHours = new Set([...this.sealed, ...this.open.values()].map((each) => each.hour));
    const due = [...this.pending.entries()].filter(
      ([, each]) => (final || each.hour < hour) && !queuedHours.has(each.hour),
    );
    const now = this.now();
    const expired = this.obsolete.filter((each) => final || each.after <= now);
    // Not at a stop: the stop should be quick, and the next process will look.
    const orphans = !final && !this.closed && now >= this.orphansDueAt;
    if (due.length === 0 && expired.length === 0 && !orphans) return Promise.resolve();
    if (orphans) this.orphansDueAt = (hour + 1) * HOUR_MS;
    this.obsolete = this.obsolete.filter((each) => !expired.includes(each));
    this.compacting = this.compact(due, expired, final)
      .then(() => (orphans ? this.adoptOrphans() : undefined))
      .catch((error: unknown) => {
        // Never fatal: unmerged parts and undeleted merged parts still read correctly.
        this.options.logger.warn(
          { err: error, dir: this.options.dir },
          `prediction log: could not merge or clean up parts in ${this.options.dir}: ${(error as Error).message}`,
        );
      })
      .finally(() => {
        this.compacting = undefined;
      });
    return this.compacting;
  }

  private async compact(
    due: Array<[string, PendingHour]>,
    expired: Array<{ files: string[] }>,
    final: boolean,
  ): Promise<void> {
    for (const each of expired) await this.remove(each.files);
    if (due.length === 0) return;
    // A part being copied out may be deleted by its publisher: let those finish first.
    await this.publishing;
    const { connection } = await this.duckdb();
    for (const [id, { folder, key }] of due) {
      this.pending.delete(id);
      try {
        const done = await compactHour(connection, folder, key);
        if (done.merged) this.totals.merged++;
        await this.retire(done.obsolete, final);
      } catch (error) {
        // The parts stay as they are: readers read them, nothing is lost.
        this.options.logger.warn(
          { err: error, folder, key },
          `prediction log: could not merge the parts of ${path.join(folder, key)}: ${(error as Error).message}`,
        );
      }
    }
  }

  /** Deletes parts a merged file now holds: after the grace period, or at once at a stop. */
  private async retire(files: string[], final: boolean): Promise<void> {
    const grace = final ? 0 : (this.options.compactGraceMs ?? 60_000);
    if (grace === 0) await this.remove(files);
    else this.obsolete.push({ files, after: this.now() + grace });
  }

  /**
   * Merges up to ORPHAN_KEYS_PER_PASS keys of processes that are gone, under their own merged
   * names; their parts are deleted after the grace period, like this process's own.
   */
  private async adoptOrphans(): Promise<void> {
    const now = this.now();
    const { orphans, more } = await findOrphans({
      dir: this.options.dir,
      host: this.host,
      now,
      own: (folder, key) => this.pending.has(path.join(folder, key)),
      limit: ORPHAN_KEYS_PER_PASS,
    });
    // A backlog (a crash-looping process leaves a key per restart) is worked off sooner.
    if (more) this.orphansDueAt = Math.min(this.orphansDueAt, now + ORPHAN_BACKLOG_MS);
    if (orphans.length === 0) return;
    const { connection } = await this.duckdb();
    for (const orphan of orphans) await this.adopt(connection, orphan);
  }

  private async adopt(connection: DuckDBConnection, { folder, key, torn }: Orphan): Promise<void> {
    try {
      // Unfinished files of a gone process (or of a gone adopter) will never be finished; the
      // reader skips them, with a warning at every read, until they are deleted.
      await this.remove(torn);
      const done = await compactHour(connection, folder, key, adoptTemp(folder, key, this.host));
      if (done.merged) {
        this.totals.adopted++;
        this.options.logger.info(
          { folder, key, rows: done.rows },
          `prediction log: merged the parts of ${path.join(folder, key)}, whose process is gone`,
        );
      }
      await this.retire(done.obsolete, false);
    } catch (error) {
      // Another process adopting the same key got there first: its merged file holds the rows.
      if (error instanceof ReplacedWhileMerging || (await mergedByOther(connection, folder, key)))
        this.options.logger.debug(
          { folder, key },
          `prediction log: ${path.join(folder, key)} was merged by another process`,
        );
      else
        this.options.logger.warn(
          { err: error, folder, key },
          `prediction log: could not merge the parts of ${path.join(folder, key)}, whose process is gone (they stay as they are): ${(error as Error).message}`,
        );
    }
  }

  private async remove(files: string[]): Promise<void> {
    for (const file of files) await rm(file, { force: true });
  }

  /** Stops the timer, writes everything queued, merges this process's hours, releases DuckDB. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.flush();
    await this.publishing;
    // The process writes no more: every hour it wrote is finished, the current one included.
    while (this.compacting) await this.compacting;
    await this.compactFinishedHours(true);
    await this.options.publisher?.close();
    if (this.engine !== undefined) {
      const { closeDuckDB } = await import("../../duckdb/instance.js");
      await closeDuckDB(this.engine);
      this.engine = undefined;
    }
  }

  private plan(info: ModelInfo): Plan | null {
    let plan = this.plans.get(info);
    if (plan === undefined) {
      try {
        const layout = layoutFor(info);
        const of = (column: LoggedColumn): ColumnPlan => ({ column, holds: column.holds });
        const [output, ...probabilities] = layout.outputs.map(of);
        plan = { layout, inputs: layout.inputs.map(of), output, probabilities };
      } catch (error) {
        plan = null;
        this.options.logger.warn(
          { err: error },
          `prediction log: not logging model ${info.name}: ${(error as Error).message}`,
        );
      }
      this.plans.set(info, plan);
    }
    return plan;
  }

  private duckdb(): Promise<DuckDBEngine> {
    // DuckDB's native module is loaded at the first merge: a server that logs nothing (the log
    // off, or no hour over yet) does not pay its start-up time and memory.
    this.engine ??= import("../../duckdb/instance.js").then(({ openDuckDB }) =>
      openDuckDB({ memoryLimit: "256MB", threads: 1 }),
    );
    return this.engine;
  }

  private async write(segments: Segment[]): Promise<void> {
    for (const segment of segments) await this.writeFile(segment);
  }

  /** The next part number of `key` in `folder`, continuing any already on disk. */
  private async nextSeq(folder: string, key: string): Promise<number> {
    const id = path.join(folder, key);
    let seq = this.seqs.get(id);
    if (seq === undefined) {
      // An earlier process with this host and pid (a restarted container) may have left parts
      // or a merged file of this hour: continue after them, or they would be overwritten or
      // count ours as already merged.
      const { merged, parts } = await listHourFiles(folder, key);
      seq = parts.length > 0 ? parts[parts.length - 1].seq : 0;
      if (merged !== undefined)
        seq = Math.max(seq, await mergedThrough((await this.duckdb()).connection, merged));
    }
    this.seqs.set(id, seq + 1);
    return seq + 1;
  }

  /** One part file: <dir>/<model>/<yyyy-mm-dd>/<hh>-<host>-<pid>-<seq>.parquet. */
  private async writeFile(segment: Segment): Promise<void> {
    const { info, rows } = segment;
    const iso = new Date(segment.hour * HOUR_MS).toISOString();
    const folder = path.join(this.options.dir, modelDirName(info.name), iso.slice(0, 10));
    const key = `${iso.slice(11, 13)}-${this.host}-${process.pid}`;
    await mkdir(folder, { recursive: true });
    const name = partFileName(key, await this.nextSeq(folder, key));
    const final = path.join(folder, name);
    const temp = final.slice(0, -PART_SUFFIX.length) + TEMP_SUFFIX;
    const buffers = encodeParquetPart(this.partColumns(segment), rows, this.metadata(segment));
    try {
      const handle = await open(temp, "w");
      try {
        // write() may write less than asked (a page above 2 GB, a signal): write the rest.
        for (const buffer of buffers)
          for (let done = 0; done < buffer.length;)
            done += (await handle.write(buffer, done, buffer.length - done)).bytesWritten;
      } finally {
        await handle.close();
      }
      await rename(temp, final);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    this.pending.set(path.join(folder, key), { folder, key, hour: segment.hour });
    this.totals.written += rows;
    this.totals.files++;
    this.written?.inc({ model: info.name }, rows);
    this.publish(final, info, rows);
  }

  /** Hands a finished part to the publisher, if any (in the background, one at a time). */
  private publish(file: string, info: ModelInfo, rows: number): void {
    const { publisher } = this.options;
    if (!publisher) return;
    const key = path.relative(this.options.dir, file).split(path.sep).join("/");
    this.publishing = this.publishing.then(async () => {
      try {
        if (await publisher.publish({ file, key, model: info.name, version: info.version, rows }))
          await rm(file, { force: true });
      } catch (error) {
        this.publishFailures?.inc({ model: info.name });
        this.options.logger.warn(
          { err: error, file, target: publisher.target },
          `prediction log: could not copy ${file} to ${publisher.target} (kept on local disk): ${(error as Error).message}`,
        );
      }
    });
  }

  private partColumns(segment: Segment): PartColumn[] {
    const { info, plan, rows } = segment;
    const all = [...plan.inputs, plan.output, ...plan.probabilities];
    return [
      { kind: "timestamp", name: "time", values: segment.times.subarray(0, rows) },
      { kind: "constant", name: "model", value: info.name },
      { kind: "constant", name: "version", value: info.version },
      { kind: "constant", name: "mode", value: this.options.mode },
      { kind: "string", name: "id", values: segment.ids, numberPrefix: this.idPrefix },
      ...all.map((each, c): PartColumn => {
        const store = segment.stores[c];
        const name = each.column.name;
        if (Array.isArray(store)) return { kind: "string", name, values: store };
        if (store instanceof Uint8Array)
          return { kind: "boolean", name, values: store.subarray(0, rows) };
        const values = store.subarray(0, rows);
        switch (each.column.sqlType) {
          case "BIGINT":
            return { kind: "int64", name, values };
          case "INTEGER":
            return { kind: "int32", name, values };
          case "FLOAT":
            return { kind: "float", name, values };
          default:
            return { kind: "double", name, values };
        }
      }),
    ];
  }

  private metadata(segment: Segment): Record<string, string> {
    const { info, plan } = segment;
    return {
      [META.format]: String(PREDICTION_LOG_FORMAT_VERSION),
      [META.model]: info.name,
      [META.version]: info.version,
      [META.inputs]: JSON.stringify(
        plan.layout.inputs.map(({ name, sqlType }) => ({ name, type: sqlType })),
      ),
      [META.outputs]: JSON.stringify(
        plan.layout.outputs.map(({ name, sqlType }) => ({ name, type: sqlType })),
      ),
    };
  }
}

/** Whether every part of `key` on disk is held by its merged file (merged by someone else). */
async function mergedByOther(
  connection: DuckDBConnection,
  folder: string,
  key: string,
): Promise<boolean> {
  try {
    const { merged, parts } = await listHourFiles(folder, key);
    if (merged === undefined) return false;
    const through = await mergedThrough(connection, merged);
    return parts.every((part) => part.seq <= through);
  } catch {
    return false;
  }
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
