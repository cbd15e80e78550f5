/**
 * `npm run bench:batch-memory [-- --sizes 100000,1000000,10000000 --chunk 50000]`
 *
 * Peak memory (max RSS) of one `mldeploy batch` run SQLite → SQLite for tables of growing
 * size, each in a fresh process. Chunked keyset reads mean the peak must not grow with the
 * table beyond a constant.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { batchOptionsSchema } from "../batch/options.js";
import { runBatch } from "../batch/run.js";
import { createLogger } from "../log/logger.js";
import { Registry } from "../registry/registry.js";
import { benchModel } from "./model.js";

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "100000,1000000,10000000" },
    chunk: { type: "string", default: "50000" },
    child: { type: "string" },
    model: { type: "string" },
  },
});

function writeRides(file: string, rows: number): void {
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.exec(
    `CREATE TABLE rides (ride_id INTEGER PRIMARY KEY, PULocationID INTEGER, DOLocationID INTEGER, trip_distance REAL)`,
  );
  // A recursive CTE generates the rows inside SQLite: no JS arrays of the table's size.
  db.exec(`WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ${rows})
    INSERT INTO rides SELECT n, 1 + (n * 37) % 265, 1 + (n * 91) % 265, ((n * 13) % 200) / 10.0 FROM g`);
  db.close();
}

/** In the child: one batch run, then the peak RSS in MiB on stdout. */
async function child(db: string, model: string): Promise<void> {
  const registry = await Registry.open({ dataDir: path.join(path.dirname(db), "registry") });
  const options = batchOptionsSchema.parse({
    model,
    source: `sqlite:${db}`,
    table: "rides",
    idColumn: "ride_id",
    sink: `sqlite:${db}`,
    sinkTable: "predictions",
    chunkSize: Number(args.chunk),
    logLevel: "error",
  });
  const [stats] = await runBatch(options, { registry, logger: createLogger({ level: "error" }) });
  await registry.close();
  process.stdout.write(
    JSON.stringify({
      rows: stats.rowsRead,
      seconds: stats.durationMs / 1000,
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
    }) + "\n",
  );
}

async function main(): Promise<void> {
  if (args.child !== undefined) return child(args.child, args.model!);
  const model = await benchModel();
  const dir = await mkdtemp(path.join(os.tmpdir(), "mldeploy-bench-memory-"));
  console.log(
    `peak memory of one batch run, SQLite → SQLite, chunks of ${Number(args.chunk).toLocaleString("en-US")}\n`,
  );
  try {
    for (const size of args.sizes.split(",").map(Number)) {
      const db = path.join(dir, `rides-${size}.db`);
      writeRides(db, size);
      const out = await new Promise<string>((resolve, reject) => {
        const proc = spawn(
          process.execPath,
          [fileURLToPath(import.meta.url), "--child", db, "--model", model, "--chunk", args.chunk],
          {
            stdio: ["ignore", "pipe", "inherit"],
          },
        );
        let text = "";
        proc.stdout.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
        proc.on("exit", (code) =>
          code === 0 ? resolve(text) : reject(new Error(`child exited ${code}`)),
        );
      });
      const result = JSON.parse(out) as { rows: number; seconds: number; maxRssMiB: number };
      console.log(
        `${size.toLocaleString("en-US").padStart(12)} rows: peak RSS ${result.maxRssMiB.toFixed(0)} MiB ` +
          `(${Math.round(result.rows / result.seconds).toLocaleString("en-US")} rows/s)`,
      );
      await rm(db, { force: true });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
