import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlString, withDuckDB } from "../../src/duckdb/index.js";
import { runCli, type CliResult } from "../helpers/cli.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import { makeRides, writeRidesSqlite } from "./helpers.js";

/**
 * A sink on a read-only file system and on a full one, for real: tmpfs mounts (the tests run as
 * root; chmod would not stop root from writing). The error names the sink's file and the cause,
 * is one line without a stack, and exits 1: the machine's fault, not a mistake in the command.
 */

const mounts: string[] = [];

/** A fresh tmpfs mounted with `options`, or undefined when this machine does not allow it. */
function tmpfs(options: string): string | undefined {
  const dir = mkdtempSync(path.join(tmpdir(), "mldeploy-tmpfs-"));
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir]);
  if (mounted.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
  mounts.push(dir);
  return dir;
}

const readOnly = tmpfs("size=64k,ro");
// Room for the job's first files, not for its predictions.
const full = tmpfs("size=64k");
const CANNOT_MOUNT = "skipped: cannot mount a tmpfs here (needs root)";

afterAll(() => {
  for (const dir of mounts.splice(0)) {
    spawnSync("umount", ["-l", dir]);
    rmSync(dir, { recursive: true, force: true });
  }
});

let bundle: string;
let env: NodeJS.ProcessEnv;
let sqliteSource: string;
let parquetSource: string;

beforeAll(async () => {
  bundle = await rideBundlePath();
  const dir = tempDir("mldeploy-sink-faults-");
  env = { MLDEPLOY_DATA_DIR: path.join(dir, "registry") };
  const rides = makeRides(30_000);
  sqliteSource = path.join(dir, "rides.db");
  writeRidesSqlite(sqliteSource, rides);
  parquetSource = path.join(dir, "rides.parquet");
  const json = path.join(dir, "rides.json");
  writeFileSync(json, JSON.stringify(rides));
  await withDuckDB((db) =>
    db.run(
      `COPY (SELECT * FROM read_json(${sqlString(json)}))
       TO ${sqlString(parquetSource)} (FORMAT parquet)`,
    ),
  );
});

function batch(source: "sqlite" | "parquet", sink: string): Promise<CliResult> {
  return runCli(
    [
      "batch",
      "--model",
      bundle,
      ...(source === "sqlite"
        ? ["--source", `sqlite:${sqliteSource}`, "--table", "rides"]
        : ["--source", parquetSource]),
      "--id-column",
      "ride_id",
      "--sink",
      sink,
      "--sink-table",
      "preds",
    ],
    { env },
  );
}

/** One line naming `file` and the cause, no stack, exit status 1. */
function expectStorageFault(result: CliResult, file: string, cause: RegExp): void {
  const lines = result.stderr.trim().split("\n");
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^mldeploy: error: /);
  expect(lines[0]).toContain(file);
  expect(lines[0]).toMatch(cause);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.status).toBe(1);
}

const EROFS = /read-only file system \(EROFS\)/;
const ENOSPC = /no space left on device \(ENOSPC\)/;

describe.skipIf(readOnly === undefined)(
  readOnly === undefined ? `read-only sink — ${CANNOT_MOUNT}` : "a sink on a read-only mount",
  () => {
    it("Parquet: names the directory it cannot create and why", async () => {
      const target = path.join(readOnly!, "preds.parquet");
      expectStorageFault(await batch("sqlite", target), `${target}.parts`, EROFS);
    });

    it("SQLite: names the database and why", async () => {
      const db = path.join(readOnly!, "preds.db");
      expectStorageFault(await batch("sqlite", `sqlite:${db}`), db, EROFS);
    });
  },
);

describe.skipIf(full === undefined)(
  full === undefined ? `full sink — ${CANNOT_MOUNT}` : "a sink on a full disk",
  () => {
    it("SQLite: names the database, not 'database or disk is full' with a stack", async () => {
      const db = path.join(full!, "preds.db");
      try {
        expectStorageFault(await batch("sqlite", `sqlite:${db}`), db, ENOSPC);
      } finally {
        rmSync(path.join(full!, "preds.db"), { force: true });
        rmSync(path.join(full!, "preds.db-wal"), { force: true });
        rmSync(path.join(full!, "preds.db-shm"), { force: true });
      }
    });

    it("Parquet merged after the chunk pipeline: names the target, exit 1 not 2", async () => {
      const target = path.join(full!, "preds.parquet");
      try {
        expectStorageFault(await batch("sqlite", target), target, ENOSPC);
      } finally {
        rmSync(`${target}.parts`, { recursive: true, force: true });
      }
    });

    it("Parquet scored inside DuckDB: names the sink's file, not the source", async () => {
      const target = path.join(full!, "preds.parquet");
      try {
        const result = await batch("parquet", target);
        expectStorageFault(result, target, ENOSPC);
        expect(result.stderr).not.toContain(parquetSource);
      } finally {
        rmSync(`${target}.parts`, { recursive: true, force: true });
      }
    });
  },
);
