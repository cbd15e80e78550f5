import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import { makeRides, sqliteBatchArgs, writeRidesSqlite } from "./helpers.js";

/**
 * Preloaded into the CLI (node --import): when the process exits, records whether DuckDB's
 * native library is mapped into it. A loaded native addon is dlopen()ed, so /proc/self/maps
 * lists it whichever loader (ESM or CommonJS, static or dynamic import) brought it in; ESM
 * has no module cache to inspect, and the maps cannot be fooled by a module that was
 * resolved but never evaluated.
 */
const PROBE = `
import { readFileSync, writeFileSync } from "node:fs";
process.on("exit", () => {
  const maps = readFileSync("/proc/self/maps", "utf8");
  const duckdb = maps.split("\\n").some((line) => /duckdb\\.node$|libduckdb[^/]*$/.test(line));
  writeFileSync(process.env.MLDEPLOY_TEST_PROBE, JSON.stringify({ duckdb }));
});
`;

/** Runs `mldeploy batch args` with the probe; whether DuckDB was loaded. */
async function loadsDuckDB(dir: string, args: string[]): Promise<boolean> {
  const probe = path.join(dir, "probe.mjs");
  const out = path.join(dir, `probe-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(probe, PROBE);
  const result = await runCli(args, {
    env: {
      NODE_OPTIONS: `--import=${pathToFileURL(probe).href}`,
      MLDEPLOY_TEST_PROBE: out,
    },
  });
  expect(result.stderr).not.toMatch(/error/i);
  expect(result.status).toBe(0);
  return (JSON.parse(await readFile(out, "utf8")) as { duckdb: boolean }).duckdb;
}

describe.skipIf(process.platform !== "linux")(
  "DuckDB is loaded only by jobs that use files",
  () => {
    let bundle: string;
    beforeAll(async () => {
      bundle = await rideBundlePath();
    });

    it("a SQLite → SQLite job never loads @duckdb/node-api", async () => {
      const dir = tempDir();
      const db = path.join(dir, "rides.db");
      writeRidesSqlite(db, makeRides(300));
      expect(await loadsDuckDB(dir, sqliteBatchArgs(bundle, db))).toBe(false);
    });

    it("the probe sees DuckDB when a job writes Parquet (so the check above can fail)", async () => {
      const dir = tempDir();
      const db = path.join(dir, "rides.db");
      writeRidesSqlite(db, makeRides(300));
      const args = sqliteBatchArgs(bundle, db);
      const sink = args.indexOf("--sink");
      args.splice(sink, 4, "--sink", path.join(dir, "predictions.parquet"));
      expect(await loadsDuckDB(dir, args)).toBe(true);
    });
  },
);
