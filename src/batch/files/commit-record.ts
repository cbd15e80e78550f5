import { createHash } from "node:crypto";
import { open, readdir, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import { UserError } from "../../config/errors.js";
import { firstLine } from "../../duckdb/sql.js";
import { storageError } from "../storage-fault.js";
import type { Checkpoint, KeyValue } from "../types.js";
import type { ColumnType } from "./output-types.js";

/** One job's progress, stored in its own file so concurrent partition workers never race. */
export interface JobState {
  jobId: string;
  checkpoint?: Checkpoint;
  /** Number of the last committed chunk; parts numbered above it are leftovers of a crash. */
  sequence: number;
  idColumn?: string;
  /** Output column types, fixed by the first non-null values seen (see mergeType). */
  types: Record<string, ColumnType>;
  /**
   * True while every id this job wrote was a number greater than the one before (a plain keyset
   * read): its parts, concatenated in sequence order, are then already unique and sorted.
   */
  ascending?: boolean;
  /** The last id written, to carry `ascending` across chunks and runs. */
  lastId?: KeyValue;
  /**
   * True while every part of this job came from writeParts(): Parquet v1 with the output types,
   * so a lone part is already what the merge would make of it.
   */
  finalParts?: boolean;
}

const STATE_VERSION = 1;
export const PART = /^(part|rejects)-(.+)-(\d{10})\.parquet(\.tmp)?$/;
const SEQUENCE_DIGITS = 10;

/**
 * The file sink's commit record, in `<target>.parts/`: one state file per job
 * (`_job-<job>.json`: checkpoint, sequence, output types), replaced atomically, which is the
 * commit of a chunk; part files named by job and sequence; which parts are committed and
 * which a crash left uncommitted.
 */
export class CommitRecord {
  constructor(
    readonly partsDir: string,
    private readonly description: string,
  ) {}

  statePath(jobId: string): string {
    return path.join(this.partsDir, `_job-${jobKey(jobId)}.json`);
  }

  /** Where chunk `sequence` of a job goes. */
  partPath(kind: "part" | "rejects", jobId: string, sequence: number): string {
    const number = String(sequence).padStart(SEQUENCE_DIGITS, "0");
    return path.join(this.partsDir, `${kind}-${jobKey(jobId)}-${number}.parquet`);
  }

  async loadState(jobId: string): Promise<JobState> {
    const text = await readFile(this.statePath(jobId), "utf8").catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    });
    if (text === undefined)
      return { jobId, sequence: 0, types: {}, ascending: true, finalParts: true };
    const state = parseState(text, this.statePath(jobId));
    if (state.jobId !== jobId) {
      throw new UserError(
        `${this.statePath(jobId)} belongs to job "${state.jobId}", not "${jobId}" (job names collide)`,
      );
    }
    return state;
  }

  async saveState(state: JobState): Promise<void> {
    const text = `${JSON.stringify({ version: STATE_VERSION, ...state }, null, 2)}\n`;
    const file = this.statePath(state.jobId);
    await stored(this.description, file, () =>
      atomically(file, async (tmp) => {
        const handle = await open(tmp, "w");
        try {
          await handle.writeFile(text);
          await handle.sync();
        } finally {
          await handle.close();
        }
      }),
    );
  }

  async removeUncommitted(state: JobState): Promise<void> {
    const key = jobKey(state.jobId);
    for (const name of await readdir(this.partsDir)) {
      const match = PART.exec(name);
      const orphan =
        (match && match[2] === key && (match[4] || Number(match[3]) > state.sequence)) ||
        name === `_job-${key}.json.tmp`;
      if (orphan) await rm(path.join(this.partsDir, name), { force: true });
    }
  }

  async committedParts(files: string[]): Promise<Record<"part" | "rejects", string[]>> {
    const states = await this.allStates(files);
    const sequences = new Map(states.map((s) => [jobKey(s.jobId), s.sequence]));
    const out: Record<"part" | "rejects", string[]> = { part: [], rejects: [] };
    for (const name of files) {
      const match = PART.exec(name);
      if (!match || match[4]) continue;
      const committed = sequences.get(match[2]);
      if (committed !== undefined && Number(match[3]) <= committed) {
        out[match[1] as "part" | "rejects"].push(path.join(this.partsDir, name));
      }
    }
    return out;
  }

  async allStates(files: string[]): Promise<JobState[]> {
    const names = files.filter((name) => /^_job-.+\.json$/.test(name));
    return Promise.all(
      names.map(async (name) => {
        const file = path.join(this.partsDir, name);
        return parseState(await readFile(file, "utf8"), file);
      }),
    );
  }
}

/** Runs `fn`, naming `file` and the cause when the machine refuses it (disk full, read-only). */
export async function stored<T>(
  description: string,
  file: string,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw storageError(error, description, file);
  }
}

/** A file-name-safe, collision-free name for a job id (ids like "rides→preds[0/4]"). */
export function jobKey(jobId: string): string {
  const readable = jobId.replace(/[^A-Za-z0-9_.]+/g, "_").slice(0, 40);
  return `${readable}.${createHash("sha256").update(jobId).digest("hex").slice(0, 10)}`;
}

function parseState(text: string, file: string): JobState {
  try {
    const value = JSON.parse(text) as Partial<JobState>;
    if (typeof value.jobId !== "string" || typeof value.sequence !== "number") {
      throw new Error("missing jobId or sequence");
    }
    return {
      jobId: value.jobId,
      checkpoint: value.checkpoint,
      sequence: value.sequence,
      idColumn: value.idColumn,
      types: value.types ?? {},
      ascending: value.ascending === true,
      lastId: value.lastId,
      finalParts: value.finalParts === true,
    };
  } catch (error) {
    throw new UserError(`${file}: not a valid job state (${firstLine(error)})`, { cause: error });
  }
}

/** Runs `write(tmp)`, then renames tmp over `file`: readers see all of it or nothing. */
export async function atomically(
  file: string,
  write: (tmp: string) => Promise<void>,
): Promise<void> {
  const tmp = `${file}.tmp`;
  try {
    await write(tmp);
    await rename(tmp, file);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/** fsync, so a rename never publishes a file whose data is still only in the page cache. */
export async function syncFile(file: string): Promise<void> {
  const handle = await open(file, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The job's `ascending` and `lastId` after it writes `ids` (see JobState). */
export function idOrder(state: JobState, ids: KeyValue[]): Pick<JobState, "ascending" | "lastId"> {
  if (ids.length === 0) return { ascending: state.ascending, lastId: state.lastId };
  let ascending = state.ascending === true;
  let previous = state.lastId;
  for (let i = 0; ascending && i < ids.length; i++) {
    const id = ids[i];
    // Strings are left out: JavaScript and DuckDB do not order every string alike.
    ascending =
      typeof id === "number" &&
      (previous === undefined || (typeof previous === "number" && id > previous));
    previous = id;
  }
  return { ascending, lastId: ids[ids.length - 1] };
}
