import { spawn } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, runCli } from "../helpers/cli.js";
import { seriesValue } from "../helpers/prometheus.js";
import {
  HAS_PUSHGATEWAY,
  NO_PUSHGATEWAY,
  startPushgateway,
  type PushgatewayServer,
} from "../helpers/pushgateway.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import { isBadRide, makeRides, sqliteBatchArgs, writeRidesSqlite } from "./helpers.js";

// A slash and brackets, as in partitioned jobs' names: they must survive the gateway's URL.
const JOB = "rides->ride_predictions[0/1]";
let bundle: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  bundle = await rideBundlePath();
  env = { MLDEPLOY_DATA_DIR: path.join(tempDir(), "registry") };
});

const batchArgs = (db: string, table = "rides") => [
  ...sqliteBatchArgs(bundle, db, table),
  "--job-name",
  JOB,
  "--chunk-size",
  "100",
];

const PUSH_TITLE =
  "pushes each run's counts to a real Pushgateway; a failed run keeps the last success";

describe.skipIf(!HAS_PUSHGATEWAY)("batch metrics through a Pushgateway", () => {
  let gateway: PushgatewayServer;
  beforeAll(async () => {
    gateway = await startPushgateway();
  });
  afterAll(() => gateway?.stop());

  it(HAS_PUSHGATEWAY ? PUSH_TITLE : `${PUSH_TITLE} — ${NO_PUSHGATEWAY}`, async () => {
    const db = path.join(tempDir(), "rides.db");
    const rides = makeRides(500);
    const bad = rides.filter(isBadRide).length;
    writeRidesSqlite(db, rides);
    const group = { job: "mldeploy_batch", batch_job: JOB };

    const before = Date.now() / 1000;
    const ok = await runCli([...batchArgs(db), "--pushgateway", gateway.url], { env });
    expect(ok.status, ok.stderr).toBe(0);
    const after = Date.now() / 1000;
    let pushed = await gateway.scrape();
    const value = (name: string, labels: Record<string, string> = {}) =>
      seriesValue(pushed, name, { ...group, ...labels });
    expect(value("mldeploy_batch_last_run_rows", { outcome: "read" })).toBe(500);
    expect(value("mldeploy_batch_last_run_rows", { outcome: "scored" })).toBe(500 - bad);
    expect(value("mldeploy_batch_last_run_rows", { outcome: "rejected" })).toBe(bad);
    expect(value("mldeploy_batch_runs_total", { status: "FINISHED" })).toBe(1);
    expect(value("mldeploy_batch_last_run_info", { status: "FINISHED" })).toBe(1);
    expect(value("mldeploy_batch_last_run_duration_seconds")).toBeGreaterThan(0);
    const success = value("mldeploy_batch_last_success_timestamp_seconds");
    expect(success).toBeGreaterThanOrEqual(Math.floor(before));
    expect(success).toBeLessThanOrEqual(after + 1);
    // The job's metrics only: a finished process's memory must not linger in the gateway.
    expect(pushed).not.toMatch(/process_cpu_user_seconds_total\{[^}]*job="mldeploy_batch"/);

    const failed = await runCli([...batchArgs(db, "no_such_table"), "--pushgateway", gateway.url], {
      env,
    });
    expect(failed.status).toBe(2); // a user mistake (UserError)
    expect(failed.stderr).toMatch(/no_such_table/);
    pushed = await gateway.scrape();
    expect(value("mldeploy_batch_runs_total", { status: "FAILED" })).toBe(1);
    expect(value("mldeploy_batch_runs_total", { status: "FINISHED" })).toBe(0);
    expect(value("mldeploy_batch_last_run_info", { status: "FAILED" })).toBe(1);
    expect(value("mldeploy_batch_last_run_rows", { outcome: "read" })).toBe(0);
    expect(value("mldeploy_batch_last_success_timestamp_seconds")).toBe(success);
  });
});

describe("batch metrics", () => {
  it("an unreachable Pushgateway is a warning: the run still commits and exits 0", async () => {
    const db = path.join(tempDir(), "rides.db");
    writeRidesSqlite(db, makeRides(50));
    const result = await runCli([...batchArgs(db), "--pushgateway", "http://127.0.0.1:1"], {
      env,
    });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout + result.stderr).toMatch(
      /could not push metrics to http:\/\/127\.0\.0\.1:1/,
    );
  });

  it("refuses a Pushgateway setting that is not a URL, naming it", async () => {
    const result = await runCli([...batchArgs("x.db"), "--pushgateway", "pushgateway:9091"], {
      env,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/pushgateway.*http:\/\/ or https:\/\/ URL/);
  });

  it("serves /metrics while scheduled: runs, rows of each increment, process metrics", async () => {
    const db = path.join(tempDir(), "rides.db");
    const first = makeRides(300);
    writeRidesSqlite(db, first);
    const child = spawn(
      process.execPath,
      [CLI, ...batchArgs(db), "--every", "300ms", "--metrics-port", "0"],
      {
        env: { ...process.env, ...env, MLDEPLOY_LOG_LEVEL: "info" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    try {
      const scrapeUntil = async (done: (text: string) => boolean) => {
        const deadline = Date.now() + 30_000;
        for (;;) {
          const url = /"metrics":"(http:[^"]+)"/.exec(output)?.[1];
          const text = url
            ? await fetch(url).then(
                (r) => r.text(),
                () => "",
              )
            : "";
          if (text && done(text)) return text;
          if (Date.now() > deadline || child.exitCode !== null) {
            throw new Error(`metrics never showed what was expected:\n${text}\n${output}`);
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      };
      const job = { batch_job: JOB };
      const read = (text: string) =>
        seriesValue(text, "mldeploy_batch_rows_total", { ...job, outcome: "read" });
      await scrapeUntil((text) => read(text) === 300);

      // New rows arrive: a later run of the same process scores only those.
      const more = makeRides(200, 301);
      writeRidesSqlite(db, more);
      const text = await scrapeUntil((t) => read(t) === 500);
      expect(seriesValue(text, "mldeploy_batch_rows_total", { ...job, outcome: "rejected" })).toBe(
        [...first, ...more].filter(isBadRide).length,
      );
      expect(
        seriesValue(text, "mldeploy_batch_runs_total", { ...job, status: "FINISHED" }),
      ).toBeGreaterThanOrEqual(2);
      expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
      expect(text).toMatch(
        /^mldeploy_batch_running\{batch_job="rides->ride_predictions\[0\/1\]"\} [01]$/m,
      );
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited, output).toBe(0);
  });
});
