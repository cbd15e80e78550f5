/**
 * The README's monitoring loop, through the CLI as a user runs it: train on January, serve with
 * the prediction log on, replay February (unshifted) and a shifted March against the running
 * service, and run `mldeploy monitor` after each: no drift and the training RMSE first, then
 * drift flagged and the RMSE up; results in the registry, report.html in experiment
 * `monitoring`, metrics on a Pushgateway.
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Registry } from "../../src/registry/registry.js";
import type { MonitorResult } from "../../src/monitor/job/types.js";
import { CLI, runCli } from "../helpers/cli.js";
import {
  HAS_PUSHGATEWAY,
  startPushgateway,
  type PushgatewayServer,
} from "../helpers/pushgateway.js";
import { startServeProcess, type ServeProcess } from "../helpers/serve-process.js";
import { tempDir } from "../helpers/temp.js";

const ROWS = "20000";
const MODEL = "models:/ride-duration@production";

let dir: string;
let env: NodeJS.ProcessEnv;
let server: ServeProcess | undefined;
let gateway: PushgatewayServer | undefined;

async function cli(args: string[]) {
  const result = await runCli(args, { env, cwd: dir, timeoutMs: 180_000 });
  if (result.status !== 0)
    throw new Error(`mldeploy ${args.join(" ")} failed (${result.status}):\n${result.stderr}`);
  return result;
}

type Printed = MonitorResult & { runId?: string; report?: string };

async function monitor(...extra: string[]): Promise<Printed> {
  const { stdout } = await cli([
    "monitor",
    "--model",
    MODEL,
    "--window",
    "1h",
    // Zone ids are labels: tested as categories (Jensen–Shannon over their shares).
    "--categorical",
    "PULocationID,DOLocationID",
    // The zone pair, as the model's PU_DO feature: its drift and the unseen pairs.
    "--combine",
    "PU_DO=PULocationID,DOLocationID",
    "--json",
    ...extra,
  ]);
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as Printed;
}

/** The serve process's log writes every 200 ms; wait until `rows` predictions are on disk. */
async function waitForLogged(rows: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = await (await fetch(`${server!.url}/metrics`)).text();
    const line = text
      .split("\n")
      .find((each) => each.startsWith("mldeploy_prediction_log_written_total{"));
    if (line && Number(line.split(" ").at(-1)) >= rows) return;
    if (Date.now() > deadline) throw new Error(`the log did not reach ${rows} rows:\n${line}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

beforeAll(async () => {
  dir = await tempDir("monitor-loop-");
  env = { MLDEPLOY_DATA_DIR: path.join(dir, "mldeploy-data") };
  await cli(["sample-data", "--out", "data", "--rows", ROWS]);
  await cli([
    "train",
    "--train",
    "data/green_tripdata_2021-01.parquet",
    "--valid",
    "data/green_tripdata_2021-02.parquet",
    "--out",
    "model",
    "--experiment",
    "nyc-taxi",
    "--register",
    "ride-duration",
  ]);
  await cli(["models", "alias", "ride-duration", "production", "1"]);
  await cli([
    "sample-data",
    "--out",
    "replay",
    "--months",
    "2021-02",
    "--rows",
    ROWS,
    // The same February the model was validated on (sample-data seeds month i with seed + i).
    "--seed",
    "2",
    "--requests",
    "feb.jsonl",
    "--sqlite",
    "actuals.db",
    "--table",
    "rides_feb",
  ]);
  await cli([
    "sample-data",
    "--out",
    "shifted",
    "--months",
    "2021-03",
    "--rows",
    ROWS,
    "--shift",
    "0.5",
    "--requests",
    "mar.jsonl",
    "--sqlite",
    "actuals.db",
    "--table",
    "rides_mar",
    "--first-ride-id",
    "1000001",
  ]);
  server = await startServeProcess(
    [MODEL, "--port", "0", "--workers", "1", "--log-predictions", "--log-flush-ms", "200"],
    { env, cwd: dir },
  );
  if (HAS_PUSHGATEWAY) gateway = await startPushgateway();
}, 300_000);

afterAll(async () => {
  server?.kill("SIGTERM");
  if (server) await server.exited;
  await gateway?.stop();
});

describe("mldeploy monitor: the README loop", () => {
  let february: Printed;

  it("February replayed against the service: no dataset drift, RMSE near training", async () => {
    await cli(["produce", "--to", `${server!.url}/predict`, "--file", "feb.jsonl"]);
    await waitForLogged(Number(ROWS));
    february = await monitor(
      "--actuals",
      "sqlite:actuals.db",
      "--actuals-table",
      "rides_feb",
      ...(gateway ? ["--pushgateway", gateway.url] : []),
    );
    expect(february.current.rows).toBe(Number(ROWS));
    const [version] = february.versions;
    expect(version.version).toBe("1");
    expect(version.status).toBe("ok");
    expect(version.dataset.status === "ok" && version.dataset.datasetDrift).toBe(false);
    expect(version.columns.map((column) => [column.name, column.kind])).toEqual([
      ["PULocationID", "categorical"],
      ["DOLocationID", "categorical"],
      ["trip_distance", "numerical"],
      ["PU_DO", "categorical"],
      ["duration", "numerical"],
    ]);
    expect(
      version.columns.map((column) => column.drift.status === "ok" && column.drift.method),
    ).toEqual(["jensenshannon", "jensenshannon", "wasserstein", "jensenshannon", "wasserstein"]);
    // Zone pairs the training month never had: some, even in the same distribution.
    const pairs = version.columns.find((c) => c.name === "PU_DO")!.newCategories!;
    expect(pairs.share).toBeGreaterThan(0);
    expect(pairs.share).toBeLessThan(0.25);
    const error = version.error!;
    expect(error.matched).toBeGreaterThan(Number(ROWS) * 0.9);
    expect(error.training?.metric).toBe("valid_rmse");
    // Actuals in the training range (1-60 min) of the validation month itself: the RMSE the
    // trainer measured, recomputed from what the service answered and logged.
    expect(error.targetRange?.filter).toBe("1 <= duration <= 60");
    expect(error.matched + error.outOfRange!).toBe(Number(ROWS));
    expect(error.rmse).toBeCloseTo(error.training!.rmse, 6);
    expect(error.regressed).toBe(false);
  }, 180_000);

  it("a shifted March: drift flagged, RMSE up and flagged; report, table and metrics", async () => {
    await cli(["produce", "--to", `${server!.url}/predict`, "--file", "mar.jsonl"]);
    await waitForLogged(2 * Number(ROWS));
    const out = path.join(dir, "report.html");
    const march = await monitor(
      "--actuals",
      "sqlite:actuals.db",
      "--actuals-table",
      "rides_mar",
      "--out",
      out,
      ...(gateway ? ["--pushgateway", gateway.url] : []),
    );
    const [version] = march.versions;
    expect(march.current.rows).toBe(2 * Number(ROWS));
    expect(version.dataset.status === "ok" && version.dataset.datasetDrift).toBe(true);
    const drifted = version.columns.filter((c) => c.drift.status === "ok" && c.drift.drifted);
    expect(drifted.map((c) => c.name)).toEqual(
      expect.arrayContaining(["PULocationID", "DOLocationID", "trip_distance"]),
    );
    const pairs = version.columns.find((c) => c.name === "PU_DO")!.newCategories!;
    const februaryPairs = february.versions[0].columns.find((c) => c.name === "PU_DO")!;
    expect(pairs.share!).toBeGreaterThan(februaryPairs.newCategories!.share! * 2);
    const error = version.error!;
    // Only March's rides have ids in rides_mar: the error is March's alone.
    expect(error.matched + error.outOfRange!).toBe(Number(ROWS));
    expect(error.outOfRange).toBeGreaterThan(february.versions[0].error!.outOfRange!);
    expect(error.rmse!).toBeGreaterThan(february.versions[0].error!.rmse! * 1.2);
    expect(error.regressed).toBe(true);

    const html = await readFile(out, "utf8");
    expect(html).toContain("trip_distance");
    expect(html).not.toMatch(/(src|href)="https?:/);

    const registry = await Registry.open({ dataDir: env.MLDEPLOY_DATA_DIR });
    try {
      const rows = await registry.store.searchMonitorResults({ model: "ride-duration" });
      const latest = Math.max(...rows.map((row) => row.windowEnd));
      const value = (metric: string, column = "") =>
        rows.find((r) => r.windowEnd === latest && r.metric === metric && r.column === column)
          ?.value;
      expect(value("dataset_drift")).toBe(1);
      expect(value("regressed")).toBe(1);
      expect(value("rmse")).toBeCloseTo(error.rmse!, 9);
      expect(value("drifted", "trip_distance")).toBe(1);
      expect(value("new_category_share", "PU_DO")).toBeGreaterThan(0.25);
      const run = await registry.store.getRun(march.runId!);
      expect(run.status).toBe("FINISHED");
      const experiment = await registry.store.getExperiment(run.experimentId);
      expect(experiment.name).toBe("monitoring");
      expect(march.report).toMatch(/report\.html$/);
    } finally {
      await registry.close();
    }

    if (gateway) {
      const scraped = await gateway.scrape();
      expect(scraped).toMatch(/mldeploy_dataset_drift\{[^}]*model="ride-duration"[^}]*\} 1/);
      expect(scraped).toMatch(/mldeploy_model_rmse\{[^}]*version="1"[^}]*\} \d/);
      expect(scraped).toMatch(/mldeploy_model_training_rmse\{/);
    }
  }, 180_000);

  it("an empty window is 'no data', not an error", async () => {
    const printed = await monitor("--window-end", "2020-01-02T00:00:00Z");
    expect(printed.current.rows).toBe(0);
    expect(printed.versions[0].status).toBe("no_data");
    const { stdout, stderr } = await runCli(
      ["monitor", "--model", MODEL, "--window-end", "2020-01-02T00:00:00Z", "--dry-run"],
      { env: { ...env, MLDEPLOY_LOG_LEVEL: "info", MLDEPLOY_LOG_FORMAT: "json" }, cwd: dir },
    );
    expect(stdout).toContain("no data");
    // The pass loads the model once: its ONNX session also predicts the training reference.
    const loads = `${stdout}\n${stderr}`
      .split("\n")
      .filter((line) => line.includes('"msg":"model loaded"'));
    expect(loads).toHaveLength(1);
  }, 120_000);

  it("a user mistake is one line naming the setting", async () => {
    const result = await runCli(
      ["monitor", "--model", MODEL, "--actuals", "sqlite:actuals.db", "--actuals-table", "nope"],
      { env, cwd: dir },
    );
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/nope/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    const window = await runCli(["monitor", "--model", MODEL, "--window", "soon"], {
      env,
      cwd: dir,
    });
    expect(window.stderr).toMatch(/window/);
    expect(window.stderr).not.toMatch(/\n\s+at /);
  }, 120_000);
  it("on a schedule: a pass a second, metrics on --metrics-port, SIGTERM stops it", async () => {
    const child = spawn(
      process.execPath,
      [
        CLI,
        "monitor",
        "--model",
        MODEL,
        "--window",
        "1h",
        "--every",
        "1s",
        "--metrics-port",
        "0",
        "--dry-run",
        "--json",
        "--log-format",
        "json",
      ],
      { cwd: dir, env: { ...process.env, ...env, MLDEPLOY_LOG_LEVEL: "info" } },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    try {
      const deadline = Date.now() + 60_000;
      const passes = () => stdout.split("\n").filter((line) => line.startsWith('{"format"')).length;
      while (passes() < 2) {
        if (Date.now() > deadline) throw new Error(`no two passes:\n${stdout}\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const url = /"metrics":"(http:[^"]+)"/.exec(stdout + stderr)?.[1];
      expect(url).toBeDefined();
      const text = await (await fetch(url!)).text();
      expect(text).toMatch(/mldeploy_dataset_drift\{model="ride-duration",version="1"\} 1/);
      expect(text).toMatch(/mldeploy_monitor_runs_total\{status="FINISHED"\} [2-9]/);
      expect(text).toMatch(/process_cpu_seconds_total/);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
  }, 120_000);
  it("--all-versions: each version that predicted in the window, against its own training data", async () => {
    // Version 2 (the same bundle, registered again) becomes production; the window holds only
    // version 1's predictions.
    const registry = await Registry.open({ dataDir: env.MLDEPLOY_DATA_DIR });
    let runId: string;
    try {
      runId = (await registry.store.getModelVersion("ride-duration", 1)).runId!;
    } finally {
      await registry.close();
    }
    await cli(["models", "register", "ride-duration", `runs:/${runId}/model`]);
    await cli(["models", "alias", "ride-duration", "production", "2"]);
    const only = await monitor("--dry-run");
    expect(only.versions.map((v) => [v.version, v.status])).toEqual([["2", "no_data"]]);
    const all = await monitor("--dry-run", "--all-versions");
    expect(all.versions.map((v) => [v.version, v.status, v.rows])).toEqual([
      ["1", "ok", 2 * Number(ROWS)],
    ]);
    expect(all.versions[0].dataset.status === "ok" && all.versions[0].dataset.datasetDrift).toBe(
      true,
    );
  }, 120_000);
});
