/**
 * Orphaned hours: the parts of a process that was killed (kill -9, out of memory, a crash) are
 * merged by nobody unless a process with the same host and pid writes in that same hour again.
 * A running writer therefore also looks for keys (<hh>-<host>-<pid> in a day folder) whose
 * process is gone, and merges them under the key's own merged name (compaction.ts), so the
 * reader and the same-host-same-pid continuation treat them as if their process had merged them.
 *
 * A key is gone once its hour is over and
 * - its host is this host (as hostField() spells it), and no process has its pid here
 *   (process.kill(pid, 0) fails with ESRCH); or
 * - on any host, the hour ended ORPHAN_AFTER_MS ago or more and none of the key's files was
 *   touched within ORPHAN_AFTER_MS: a live process merges its own hour seconds after it ends,
 *   so by then it has long done so (or failed to, and will not try again).
 * The hour must be over even for a dead pid: a new process that gets the same pid writes only
 * into the current hour, so an over hour's parts can no longer grow while they are merged.
 *
 * Two processes may adopt the same key at once (two cluster workers on a host, two hosts on a
 * shared folder). That is made safe by the files themselves, not by a lock: a lock file needs a
 * stale-lock timeout for holders killed by kill -9, and two processes breaking the same stale
 * lock race again, so the merge would have to be safe without the lock anyway. It is:
 * - each adopter writes its own temporary file (<key>.adopt-<host>-<pid>-<hex>.parquet.tmp);
 * - every adopter's merged file holds exactly the key's parts up to the highest part number
 *   (no part can be added to an over hour of a gone process), so whichever rename lands last,
 *   the merged file in place holds the same rows and the same mergedThrough, and the reader
 *   counts each row once at every instant (parts up to mergedThrough are left out);
 * - an adopter that read an earlier merged file as an input checks, before its rename, that it
 *   was not replaced meanwhile (compaction.ts: ReplacedWhileMerging), else it would hold the
 *   rows of the parts twice; one whose parts were deleted by the winner fails to read them.
 * A loser writes nothing, and its parts are left to the winner. Keys are taken in a random
 * order, so that processes starting together mostly adopt different keys.
 */
import { randomBytes } from "node:crypto";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import {
  adoptTempFileName,
  mergedFileName,
  parseLogFileName,
  parseTempFileName,
} from "./schema.js";

const HOUR_MS = 3_600_000;

/** How long after its hour a key of another host (or a live pid) is taken for abandoned. */
export const ORPHAN_AFTER_MS = 2 * HOUR_MS;
/** Most orphaned keys one pass merges, so that a pass stays short beside serving. */
export const ORPHAN_KEYS_PER_PASS = 16;

/** A gone process's key in a day folder, with its torn temporary files. */
export interface Orphan {
  folder: string;
  key: string;
  /** .tmp files left by the key's process or by an adopter that is gone too: garbage. */
  torn: string[];
}

export interface OrphanSearch {
  /** The log's root directory: <dir>/<model>/<yyyy-mm-dd>/. */
  dir: string;
  /** This host as hostField() spells it. */
  host: string;
  /** The writer's clock (ms since the epoch). */
  now: number;
  /** Keys this process writes or merges itself (by <folder>/<key>). */
  own: (folder: string, key: string) => boolean;
  limit: number;
}

export interface OrphanSearchResult {
  orphans: Orphan[];
  /** More orphans were found than the limit: the rest wait for a later pass. */
  more: boolean;
}

/** Whether a process with this pid runs on this machine (EPERM: it does, as another user). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH";
  }
}

interface KeyFiles {
  host: string;
  pid: number;
  /** Parts, the merged file and the key's own .tmp files (its process's). */
  owned: string[];
  hasParts: boolean;
  ownTemps: string[];
  adoptTemps: Array<{ file: string; host: string; pid: number }>;
}

/** Orphaned keys under `dir`: at most `limit` of them, drawn at random. */
export async function findOrphans(search: OrphanSearch): Promise<OrphanSearchResult> {
  const found: Orphan[] = [];
  for (const model of await subfolders(search.dir)) {
    const days = (await subfolders(path.join(search.dir, model))).filter((day) =>
      /^\d{4}-\d{2}-\d{2}$/.test(day),
    );
    for (const day of days) {
      const folder = path.join(search.dir, model, day);
      for (const [key, files] of await keysOf(folder)) {
        if (search.own(folder, key)) continue;
        const hourEnd = Date.parse(`${day}T${key.slice(0, 2)}:00:00Z`) + HOUR_MS;
        if (!(hourEnd <= search.now)) continue;
        const torn = await abandonedAdoptTemps(files, search);
        if (!files.hasParts && files.ownTemps.length === 0 && torn.length === 0) continue;
        if (!(await keyGone(files, hourEnd, search))) continue;
        found.push({ folder, key, torn: [...files.ownTemps, ...torn] });
      }
    }
  }
  shuffle(found);
  return { orphans: found.slice(0, search.limit), more: found.length > search.limit };
}

async function subfolders(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name);
}

async function keysOf(folder: string): Promise<Map<string, KeyFiles>> {
  const keys = new Map<string, KeyFiles>();
  const of = (key: string, host: string, pid: number): KeyFiles => {
    let files = keys.get(key);
    if (files === undefined) {
      files = { host, pid, owned: [], hasParts: false, ownTemps: [], adoptTemps: [] };
      keys.set(key, files);
    }
    return files;
  };
  for (const name of await readdir(folder).catch(() => [] as string[])) {
    const file = path.join(folder, name);
    const log = parseLogFileName(name);
    if (log) {
      const files = of(log.key, log.host, log.pid);
      files.owned.push(file);
      if (log.seq !== undefined) files.hasParts = true;
      continue;
    }
    const temp = parseTempFileName(name);
    if (temp?.adopted) {
      const owner = parseLogFileName(mergedFileName(temp.key));
      if (owner)
        of(temp.key, owner.host, owner.pid).adoptTemps.push({
          file,
          host: temp.host,
          pid: temp.pid,
        });
    } else if (temp) {
      const files = of(temp.key, temp.host, temp.pid);
      files.owned.push(file);
      files.ownTemps.push(file);
    }
  }
  return keys;
}

async function keyGone(files: KeyFiles, hourEnd: number, search: OrphanSearch): Promise<boolean> {
  if (files.host === search.host && !processAlive(files.pid)) return true;
  if (search.now < hourEnd + ORPHAN_AFTER_MS) return false;
  return (await newestChange(files.owned)) <= search.now - ORPHAN_AFTER_MS;
}

/** Temp files of adopters that are gone (killed mid-merge): on this host, or long untouched. */
async function abandonedAdoptTemps(files: KeyFiles, search: OrphanSearch): Promise<string[]> {
  const torn: string[] = [];
  for (const temp of files.adoptTemps) {
    const dead = temp.host === search.host && !processAlive(temp.pid);
    if (dead || (await newestChange([temp.file])) <= search.now - ORPHAN_AFTER_MS)
      torn.push(temp.file);
  }
  return torn;
}

/** The latest modification time of `files` (a file gone meanwhile counts as changed now). */
async function newestChange(files: string[]): Promise<number> {
  let newest = -Infinity;
  for (const file of files) {
    const changed = await stat(file).then(
      (stats) => stats.mtimeMs,
      () => Infinity,
    );
    newest = Math.max(newest, changed);
  }
  return newest;
}

function shuffle<T>(items: T[]): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
}

/** A unique temporary name in `folder` under which this process merges an orphaned `key`. */
export function adoptTemp(folder: string, key: string, host: string): string {
  return path.join(
    folder,
    adoptTempFileName(key, host, process.pid, randomBytes(4).toString("hex")),
  );
}
