/**
 * The part of every sink that is not about S3 or PostgreSQL: one copy at a time, and catching
 * up. The local directory is the buffer: a part whose copy failed (the target down) stays
 * there, and is copied later by a catch-up round, which also picks up the parts left by earlier
 * runs (a restart after an outage). A round runs at start, after the first success that
 * follows a failure (the target is back), and on a timer while anything is left; each round
 * copies at most `maxPartsPerRound` parts, oldest first, and stops at the first failure.
 *
 * A part the writer has just renamed into place is the writer's to hand over: a round leaves
 * alone parts younger than `settleMs` unless this process already failed to copy them, so it
 * does not race the writer (or the writer of another process sharing the directory) for them.
 * Copies are idempotent anyway (same S3 key; a bookkeeping row per part in PostgreSQL), so
 * two processes catching up the same leftover part store it once.
 */
import { readdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../../../log/logger.js";
import type { PartFile, PartPublisher } from "../publisher.js";
import { PART_SUFFIX } from "../schema.js";

/** A finished part on local disk: the file and its key under the log's root. */
export interface LocalPart {
  file: string;
  key: string;
}

/** What a sink does with one part: copy it out, completely, or throw. */
export interface PartTarget {
  /** "s3://bucket/prefix", "postgres://host/db table prediction_log". */
  readonly target: string;
  copy(part: LocalPart): Promise<void>;
  /**
   * Whether the error says this part can never be copied (not a log file, a column whose type
   * the table cannot take): catch-up then leaves it alone instead of retrying it forever.
   */
  isPermanent(error: unknown): boolean;
  close(): Promise<void>;
}

export interface CatchUpOptions {
  /** The log's root directory (<data-dir>/prediction-log). */
  dir: string;
  logger: Logger;
  /** Parts younger than this are the writer's to hand over. Default 60 000. */
  settleMs?: number;
  /** How often a round runs while parts are left. Default 30 000. */
  retryMs?: number;
  /** The most parts one round copies. Default 1000. */
  maxPartsPerRound?: number;
  /** Start a round at once (default true). */
  catchUpOnStart?: boolean;
}

export interface CatchUpResult {
  /** Parts copied (and removed locally) by this round. */
  published: number;
  /** Parts still waiting: younger than settleMs, beyond the round's bound, or after a failure. */
  left: number;
  /** The failure that stopped the round, if one did. */
  error?: unknown;
}

export interface PublisherStats {
  /** Parts copied when the writer handed them over. */
  published: number;
  /** Parts copied by catch-up rounds. */
  caughtUp: number;
  /** Failed copies (each failure, the same part may fail several times). */
  failed: number;
  /** Parts catch-up leaves alone because they can never be copied. */
  unpublishable: number;
}

/** Keys seen last, bounded: the writer removes its parts itself once they are published. */
class RecentKeys {
  private readonly keys = new Set<string>();
  constructor(private readonly limit: number) {}
  has(key: string): boolean {
    return this.keys.has(key);
  }
  add(key: string): void {
    this.keys.delete(key);
    this.keys.add(key);
    if (this.keys.size > this.limit) this.keys.delete(this.keys.values().next().value as string);
  }
}

class PartGone extends Error {}

export class CatchingUpPublisher implements PartPublisher {
  readonly target: string;
  readonly stats: PublisherStats = { published: 0, caughtUp: 0, failed: 0, unpublishable: 0 };
  /** Copies run one at a time: a sink is a background job, not a throughput race. */
  private chain: Promise<void> = Promise.resolve();
  private readonly done = new RecentKeys(10_000);
  private readonly failedKeys = new RecentKeys(100_000);
  private readonly unpublishable = new Set<string>();
  private dirty = true;
  private round: Promise<CatchUpResult> | undefined;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly settleMs: number;
  private readonly maxPartsPerRound: number;

  constructor(
    private readonly sink: PartTarget,
    private readonly options: CatchUpOptions,
  ) {
    this.target = sink.target;
    this.settleMs = options.settleMs ?? 60_000;
    this.maxPartsPerRound = options.maxPartsPerRound ?? 1000;
    this.timer = setInterval(() => {
      if (this.dirty && this.round === undefined) void this.catchUp();
    }, options.retryMs ?? 30_000);
    this.timer.unref();
    if (options.catchUpOnStart ?? true) void this.catchUp();
  }

  async publish(part: PartFile): Promise<boolean> {
    if (this.closed) throw new Error(`prediction log sink ${this.target} is closed`);
    try {
      await this.copyOnce(part);
    } catch (error) {
      this.stats.failed++;
      this.failedKeys.add(part.key);
      this.dirty = true;
      throw error;
    }
    this.stats.published++;
    // A success after failures: the target is back, copy what they left behind now.
    if (this.dirty && this.round === undefined) void this.catchUp();
    return true;
  }

  /**
   * One catch-up round (or the one running). `all`: take parts of any age (for a process that
   * knows no writer is running, and for tests).
   */
  catchUp(options: { all?: boolean } = {}): Promise<CatchUpResult> {
    if (this.round) {
      if (!options.all) return this.round;
      return this.round.then(() => this.catchUp(options));
    }
    const round = this.runRound(options.all ?? false).finally(() => {
      if (this.round === round) this.round = undefined;
    });
    this.round = round;
    return round;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      clearInterval(this.timer);
      await this.round;
      await this.chain;
      await this.sink.close();
    })();
    return this.closing;
  }

  /** Copies a part unless it was copied already in this process (then it is gone or going). */
  private copyOnce(part: LocalPart): Promise<void> {
    const run = this.chain.then(async () => {
      if (this.done.has(part.key)) return;
      try {
        await stat(part.file);
      } catch {
        throw new PartGone(`${part.file} is gone`);
      }
      await this.sink.copy(part);
      this.done.add(part.key);
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async runRound(all: boolean): Promise<CatchUpResult> {
    const { logger } = this.options;
    const startedAt = Date.now();
    let published = 0;
    let left = 0;
    let error: unknown;
    let parts: Array<LocalPart & { mtimeMs: number }> = [];
    try {
      parts = await listLocalParts(this.options.dir);
    } catch (listing) {
      error = listing;
    }
    for (const part of parts) {
      if (this.done.has(part.key) || this.unpublishable.has(part.key)) continue;
      const fresh = !all && part.mtimeMs > startedAt - this.settleMs;
      if (this.closed || error !== undefined || published >= this.maxPartsPerRound) {
        left++;
        continue;
      }
      if (fresh && !this.failedKeys.has(part.key)) {
        left++;
        continue;
      }
      try {
        await this.copyOnce(part);
        await rm(part.file, { force: true });
        published++;
        this.stats.caughtUp++;
      } catch (failure) {
        // Taken meanwhile by another process sharing the directory.
        if (failure instanceof PartGone) continue;
        if (this.sink.isPermanent(failure)) {
          this.unpublishable.add(part.key);
          this.stats.unpublishable++;
          logger.warn(
            { err: failure, file: part.file, target: this.target },
            `prediction log: ${part.file} cannot be copied to ${this.target}; it stays local: ${(failure as Error).message}`,
          );
          continue;
        }
        this.stats.failed++;
        error = failure;
        left++;
      }
    }
    this.dirty = error !== undefined || left > 0;
    if (published > 0 || error !== undefined)
      logger[error === undefined ? "info" : "warn"](
        { err: error, published, left, target: this.target },
        `prediction log: caught up ${published} part${published === 1 ? "" : "s"} to ${this.target}, ${left} left` +
          (error === undefined
            ? ""
            : ` (stopped: ${error instanceof Error ? error.message : String(error)}; kept locally, retried later)`),
      );
    // More than one round's bound waiting and the target up: go on without waiting a timer.
    if (error === undefined && published >= this.maxPartsPerRound && !this.closed)
      setImmediate(() => {
        if (this.round === undefined) void this.catchUp({ all });
      });
    return { published, left, error };
  }
}

/**
 * Finished parts under the log's root, oldest day and hour first:
 * <dir>/<model>/<yyyy-mm-dd>/<hh>-….parquet (.tmp files are being written, or torn).
 */
export async function listLocalParts(dir: string): Promise<Array<LocalPart & { mtimeMs: number }>> {
  const parts: Array<LocalPart & { mtimeMs: number }> = [];
  const list = (folder: string) => readdir(folder).catch(() => [] as string[]);
  for (const model of (await list(dir)).sort()) {
    for (const day of (await list(path.join(dir, model))).sort()) {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) continue;
      for (const name of (await list(path.join(dir, model, day))).sort()) {
        if (!name.endsWith(PART_SUFFIX) || !/^\d{2}-/.test(name)) continue;
        const file = path.join(dir, model, day, name);
        const info = await stat(file).catch(() => undefined);
        if (info?.isFile())
          parts.push({ file, key: `${model}/${day}/${name}`, mtimeMs: info.mtimeMs });
      }
    }
  }
  return parts;
}
