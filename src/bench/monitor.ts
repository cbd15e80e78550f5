/**
 * `npm run bench:monitor [-- --rows 10000000 --reference 100000 --baseline 1000000 --memory-limit 1GB]`
 *
 * One monitoring pass over a large prediction log (issue 21's target: 10 million logged
 * predictions in under 60 s, memory bounded by DuckDB's memory_limit). The log is generated
 * with DuckDB SQL in the log's Parquet layout (four hourly part files of model ride-duration,
 * two versions: `--baseline` rows of version 1, the rest version 2 with shifted zones and
 * distances), with a reference of `--reference` rows and actuals for every second ride.
 *
 * Each measurement runs in a fresh process, so its peak RSS is its own:
 * - the pass: window tables built by the monitor's own loaders (loadLogWindow, …), then
 *   computeVersionReport per version (drift, quantiles, histograms, error metrics);
 * - the baseline, in the same run: drift.ts's in-memory rules on version 1's rows
 *   (`--baseline`, 1,000,000 by default) read into JS arrays. Both must agree to 1e-9.
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { DuckDBConnection } from "@duckdb/node-api";
import { closeDuckDB, openDuckDB, sqlIdentifier, sqlString } from "../duckdb/index.js";
import {
  type Cell,
  type ColumnDrift,
  columnDrift,
  datasetDrift,
  inferKind,
  missingShare,
  newCategoryShare,
  quantiles,
} from "../monitor/drift.js";
import { computeVersionReport } from "../monitor/job/stats/index.js";
import type { FrameColumn, VersionReport } from "../monitor/job/types.js";
import { predictionLogFiles, predictionLogSql } from "../monitor/prediction-log/reader.js";
import { loadActuals, loadFileWindow, loadLogWindow } from "../monitor/job/sources/index.js";
import { createLogger } from "../log/logger.js";
import { META, PREDICTION_LOG_FORMAT_VERSION } from "../monitor/prediction-log/schema.js";

const { values: args } = parseArgs({
  options: {
    rows: { type: "string", default: "10000000" },
    reference: { type: "string", default: "100000" },
    baseline: { type: "string", default: "1000000" },
    "memory-limit": { type: "string", default: "1GB" },
    child: { type: "string" },
    dir: { type: "string" },
  },
});

const MODEL = "ride-duration";
const PARTS = 4;
const DAY = "2026-12-07";
const COLUMNS: FrameColumn[] = [
  { name: "PULocationID", role: "input", dtype: "integer" },
  { name: "DOLocationID", role: "input", dtype: "integer" },
  { name: "trip_distance", role: "input", dtype: "float" },
  { name: "duration", role: "prediction", dtype: "float" },
];

/** A uniform [0, 1) variate from row i and stream k: deterministic, unlike random() in parallel. */
function uniform(i: string, k: number): string {
  return `(hash(${i} * 8 + ${k})::DOUBLE / 18446744073709551616.0)`;
}

/**
 * Ride rows numbered by `i`: zones and distance per the version (version 2 drifts: zones
 * skewed to low ids, distances 20 % longer), the duration a noisy function of the distance.
 */
function ridesSql(from: number, to: number, versionSql: string): string {
  const normal = `(sqrt(-2 * ln(1 - ${uniform("i", 5)})) * cos(2 * pi() * ${uniform("i", 6)}))`;
  return `SELECT i, version,
      CAST(1 + floor(CASE WHEN version = '2' THEN pow(${uniform("i", 1)}, 1.4) ELSE ${uniform("i", 1)} END * 265) AS BIGINT) AS PULocationID,
      CAST(1 + floor(${uniform("i", 2)} * 265) AS BIGINT) AS DOLocationID,
      CASE WHEN ${uniform("i", 4)} < 0.001 THEN NULL
           ELSE round(-ln(1 - ${uniform("i", 3)}) * CASE WHEN version = '2' THEN 3.6 ELSE 3.0 END, 2) END AS trip_distance,
      ${normal} AS noise
    FROM (SELECT range AS i, ${versionSql} AS version FROM range(${from}, ${to}))`;
}

function withDuration(rides: string): string {
  return `SELECT *, 4 + 3.2 * coalesce(trip_distance, 3) + 2 * noise AS duration FROM (${rides})`;
}

async function generate(connection: DuckDBConnection, dir: string): Promise<void> {
  const rows = Number(args.rows);
  const share = Number(args.baseline) / rows;
  const dayDir = path.join(dir, "log", MODEL, DAY);
  await mkdir(dayDir, { recursive: true });
  const kv = [
    `${sqlIdentifier(META.format)}: ${sqlString(String(PREDICTION_LOG_FORMAT_VERSION))}`,
    `${sqlIdentifier(META.model)}: ${sqlString(MODEL)}`,
  ].join(", ");
  const version = `CASE WHEN ${uniform("range", 0)} < ${share} THEN '1' ELSE '2' END`;
  const per = Math.ceil(rows / PARTS);
  for (let part = 0; part < PARTS; part++) {
    const from = part * per;
    const to = Math.min(rows, from + per);
    const hour = String(8 + part).padStart(2, "0");
    const file = path.join(dayDir, `${hour}-bench-1-${part}.parquet`);
    await connection.run(
      `COPY (
         SELECT TIMESTAMP '${DAY} ${hour}:00:00' + to_microseconds(CAST((i - ${from}) * 3600000000 // ${to - from} AS BIGINT)) AS time,
                ${sqlString(MODEL)} AS model, version, 'serve' AS mode, 'ride-' || i AS id,
                PULocationID, DOLocationID, trip_distance, duration
         FROM (${withDuration(ridesSql(from, to, version))})
       ) TO ${sqlString(file)} (FORMAT parquet, KV_METADATA {${kv}})`,
    );
  }
  const reference = Number(args.reference);
  const offset = 1_000_000_000;
  await connection.run(
    `COPY (SELECT PULocationID, DOLocationID, trip_distance, duration
           FROM (${withDuration(ridesSql(offset, offset + reference, "'1'"))}))
     TO ${sqlString(path.join(dir, "reference.parquet"))} (FORMAT parquet)`,
  );
  // The truth arrives for every second ride: the logged duration's noise replaced by fresh noise.
  await connection.run(
    `COPY (SELECT 'ride-' || i AS id, 4 + 3.2 * coalesce(trip_distance, 3) + 2.2 * ${uniform("i", 7)} - 1.1 AS actual
           FROM (${ridesSql(0, rows, version)}) WHERE i % 2 = 0)
     TO ${sqlString(path.join(dir, "actuals.parquet"))} (FORMAT parquet)`,
  );
}

interface Timed {
  label: string;
  rows: number;
  seconds: number;
  /** CPU time of the process (all DuckDB threads): what a shared machine does not inflate. */
  cpuSeconds: number;
}

function cpuSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

interface ChildResult {
  steps: Timed[];
  maxRssMiB: number;
  /** Version 1's drift scores, for the agreement check. */
  scores: Record<string, { method: string; score: number } | null>;
}

function scoresOf(drifts: { name: string; drift: ColumnDrift }[]): ChildResult["scores"] {
  return Object.fromEntries(
    drifts.map(({ name, drift }) => [
      name,
      drift.status === "ok" ? { method: drift.method, score: drift.score } : null,
    ]),
  );
}

async function timed<T>(
  steps: Timed[],
  label: string,
  rows: number,
  work: () => Promise<T>,
): Promise<T> {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const result = await work();
  steps.push({ label, rows, seconds: (performance.now() - t0) / 1000, cpuSeconds: cpuSince(cpu0) });
  return result;
}

/** The monitoring pass: window tables in DuckDB, then one report per version. */
async function childPass(dir: string): Promise<ChildResult> {
  const engine = openDuckDB({
    memoryLimit: args["memory-limit"],
    tempDirectory: path.join(dir, "spill"),
  });
  const steps: Timed[] = [];
  try {
    const { connection } = await engine;
    await connection.run("SET TimeZone = 'UTC'");
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const context = { connection, logger: silentLogger() };
    const loaded = await timed(
      steps,
      "load windows (loadLogWindow, loadFileWindow, loadActuals)",
      Number(args.rows),
      async () => {
        const current = await loadLogWindow(context, {
          table: "current_window",
          dir: path.join(dir, "log"),
          model: MODEL,
          columns: COLUMNS,
        });
        const reference = await loadFileWindow(context, {
          table: "reference_window",
          path: path.join(dir, "reference.parquet"),
          columns: COLUMNS,
        });
        const actuals = await loadActuals(context, {
          table: "actuals",
          url: path.join(dir, "actuals.parquet"),
          idColumn: "id",
          valueColumn: "actual",
        });
        const reader = await connection.runAndReadAll(
          "SELECT version, count(*) AS n FROM current_window GROUP BY version ORDER BY version",
        );
        const rows = reader
          .getRowObjectsJS()
          .map((row) => ({ version: String(row.version), n: Number(row.n) }));
        return { current, reference, actuals, rows };
      },
    );
    const { current, reference, rows } = loaded;
    let first: VersionReport | undefined;
    for (const { version, n } of rows) {
      const report = await timed(steps, `computeVersionReport, version ${version}`, n, () =>
        computeVersionReport(connection, {
          reference,
          current,
          version,
          actuals: loaded.actuals,
          training: { metric: "valid_rmse", rmse: 2.0 },
          driftShare: 0.5,
          rmseFactor: 1.2,
        }),
      );
      first ??= report;
    }
    steps.push({
      label: "whole pass (tables + every version's report)",
      rows: Number(args.rows),
      seconds: (performance.now() - t0) / 1000,
      cpuSeconds: cpuSince(cpu0),
    });
    // The baseline computes drift only: the same report without the join with the actuals.
    const v1 = rows.find((r) => r.version === "1");
    if (v1)
      await timed(steps, "computeVersionReport, version 1, no actuals", v1.n, () =>
        computeVersionReport(connection, {
          reference,
          current,
          version: "1",
          driftShare: 0.5,
          rmseFactor: 1.2,
        }),
      );
    return {
      steps,
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
      scores: scoresOf(first!.columns),
    };
  } finally {
    await closeDuckDB(engine);
  }
}

/** The baseline: version 1's rows in JS arrays, drift.ts's in-memory rules over them. */
async function childBaseline(dir: string): Promise<ChildResult> {
  const engine = openDuckDB({
    memoryLimit: args["memory-limit"],
    tempDirectory: path.join(dir, "spill"),
  });
  const steps: Timed[] = [];
  try {
    const { connection } = await engine;
    const select = COLUMNS.map(
      (c) => `CAST(${sqlIdentifier(c.name)} AS DOUBLE) AS ${sqlIdentifier(c.name)}`,
    ).join(", ");
    const read = async (sql: string): Promise<Record<string, Cell[]>> =>
      (await connection.runAndReadAll(sql)).getColumnsObjectJS() as Record<string, Cell[]>;
    const { reference, current } = await timed(
      steps,
      "read version 1 and the reference into JS",
      Number(args.baseline),
      async () => {
        const { files } = await predictionLogFiles(connection, {
          dir: path.join(dir, "log"),
          model: MODEL,
        });
        return {
          reference: await read(
            `SELECT ${select} FROM read_parquet(${sqlString(path.join(dir, "reference.parquet"))})`,
          ),
          current: await read(
            `SELECT ${select} FROM (${predictionLogSql(files)}) WHERE version = '1'`,
          ),
        };
      },
    );
    steps[0].rows = current.duration.length;
    const drifts = await timed(
      steps,
      "drift.ts in memory, version 1",
      current.duration.length,
      async () => {
        const out: { name: string; drift: ColumnDrift }[] = [];
        for (const column of COLUMNS) {
          const ref = reference[column.name];
          const cur = current[column.name];
          const kind = inferKind(ref, column.dtype);
          out.push({ name: column.name, drift: columnDrift(ref, cur, { kind }) });
          missingShare(ref);
          missingShare(cur);
          if (kind === "numerical") {
            quantiles(ref);
            quantiles(cur);
          } else newCategoryShare(ref, cur);
        }
        datasetDrift(out.map((o) => o.drift));
        return out;
      },
    );
    return { steps, maxRssMiB: process.resourceUsage().maxRSS / 1024, scores: scoresOf(drifts) };
  } finally {
    await closeDuckDB(engine);
  }
}

function runChild(kind: string, dir: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const forwarded = ["rows", "reference", "baseline", "memory-limit"].flatMap((k) => [
      `--${k}`,
      String(args[k as keyof typeof args]),
    ]);
    const proc = spawn(
      process.execPath,
      [fileURLToPath(import.meta.url), "--child", kind, "--dir", dir, ...forwarded],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let text = "";
    proc.stdout.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
    proc.on("exit", (code) =>
      code === 0
        ? resolve(JSON.parse(text) as ChildResult)
        : reject(new Error(`${kind} child exited ${code}`)),
    );
  });
}

function agree(a: ChildResult["scores"], b: ChildResult["scores"]): string {
  const problems: string[] = [];
  for (const [name, x] of Object.entries(a)) {
    const y = b[name];
    if (x === null || y === null) {
      if (x !== y) problems.push(`${name}: no data on one side`);
      continue;
    }
    const err = Math.abs(x.score - y.score);
    if (x.method !== y.method || (err > 1e-9 * Math.abs(y.score) && err > 1e-12))
      problems.push(`${name}: ${x.method} ${x.score} vs ${y.method} ${y.score}`);
  }
  return problems.length === 0 ? "agree to 1e-9" : `DISAGREE: ${problems.join("; ")}`;
}

const fmt = (n: number) => n.toLocaleString("en-US");

async function main(): Promise<void> {
  if (args.child !== undefined) {
    const result =
      args.child === "pass" ? await childPass(args.dir!) : await childBaseline(args.dir!);
    process.stdout.write(JSON.stringify(result) + "\n");
    return;
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), "mldeploy-bench-monitor-"));
  try {
    const engine = openDuckDB({ memoryLimit: "2GB", tempDirectory: path.join(dir, "spill") });
    const t0 = performance.now();
    try {
      await generate((await engine).connection, dir);
    } finally {
      await closeDuckDB(engine);
    }
    console.log(
      `prediction log: ${fmt(Number(args.rows))} rows in ${PARTS} Parquet parts (generated in ${((performance.now() - t0) / 1000).toFixed(1)} s), ` +
        `reference ${fmt(Number(args.reference))} rows, actuals for every second ride; DuckDB memory_limit ${args["memory-limit"]}, ${os.cpus().length} cores\n`,
    );
    const pass = await runChild("pass", dir);
    const baseline = await runChild("baseline", dir);
    console.log(
      "| process | step | rows | seconds | CPU seconds (all threads) | rows/s | peak RSS of the process |\n|---|---|---|---|---|---|---|",
    );
    for (const [name, result] of [
      ["monitor pass (DuckDB)", pass],
      ["baseline (drift.ts in memory)", baseline],
    ] as const) {
      for (const step of result.steps)
        console.log(
          `| ${name} | ${step.label} | ${fmt(step.rows)} | ${step.seconds.toFixed(2)} | ${step.cpuSeconds.toFixed(2)} | ${fmt(Math.round(step.rows / step.seconds))} | ${result.maxRssMiB.toFixed(0)} MiB |`,
        );
    }
    const v1 = pass.steps.find((s) => s.label.endsWith("no actuals"))!;
    const inMemory = baseline.steps.find((s) => s.label.startsWith("drift.ts"))!;
    const whole = pass.steps.find((s) => s.label.startsWith("whole pass"))!;
    console.log(
      `\nversion 1 (${fmt(v1.rows)} rows): DuckDB report ${v1.seconds.toFixed(2)} s vs drift.ts in memory ${inMemory.seconds.toFixed(2)} s ` +
        `(ratio ${(v1.seconds / inMemory.seconds).toFixed(2)} wall, ${(v1.cpuSeconds / inMemory.cpuSeconds).toFixed(2)} CPU; the DuckDB report also computes histograms); results ${agree(pass.scores, baseline.scores)}`,
    );
    console.log(
      `whole pass over ${fmt(whole.rows)} rows: ${whole.seconds.toFixed(1)} s wall, ${whole.cpuSeconds.toFixed(1)} CPU s (target < 60 s wall: ${whole.seconds < 60 ? "met" : "NOT met"}), ` +
        `peak RSS ${pass.maxRssMiB.toFixed(0)} MiB vs ${baseline.maxRssMiB.toFixed(0)} MiB for the in-memory baseline on ${fmt(inMemory.rows)} rows`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

function silentLogger() {
  return createLogger({ level: "silent" });
}
