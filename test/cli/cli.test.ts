import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createServer, type AddressInfo, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import { sqlString, withDuckDB } from "../../src/duckdb/index.js";
import { isBadRide, makeRides, sqliteBatchArgs } from "../batch/helpers.js";
import { Registry } from "../../src/registry/registry.js";

const VERBS = ["demo", "sample-data", "train", "serve", "predict", "info"];

describe.concurrent("mldeploy --help", () => {
  it("lists every verb", async () => {
    const result = await runCli(["--help"]);
    expect(result.status).toBe(0);
    for (const verb of VERBS) expect(result.stdout).toContain(verb);
  });

  it.each(VERBS)("%s --help explains itself", async (verb) => {
    const result = await runCli([verb, "--help"]);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`Usage: mldeploy ${verb}`));
  });

  it("serve --help shows every setting with its env variable and default", async () => {
    const stdout = (await runCli(["serve", "--help"])).stdout.replace(/\s+/g, " ");
    expect(stdout).toContain("--max-batch-delay-ms <value>");
    expect(stdout).toContain("MLDEPLOY_MAX_BATCH_DELAY_MS");
    expect(stdout).toMatch(/MLDEPLOY_PORT; default 9696/);
  });
});

describe.concurrent("user mistakes print one line and exit 2", () => {
  it.each([
    [
      ["info", "/nonexistent/model"],
      /^mldeploy: error: model bundle \/nonexistent\/model: directory does not exist\n$/,
    ],
    [
      ["train", "--train", "/nope.parquet", "--valid", "/nope2.parquet"],
      /^mldeploy: error: .*\/nope\.parquet/,
    ],
    [
      ["train", "--train", "a", "--valid", "b", "--alpha", "-1"],
      /^mldeploy: error: --alpha must be a number >= 0, got "-1"\n$/,
    ],
    [
      ["sample-data", "--months", "2021-13"],
      /^mldeploy: error: --months: "2021-13" is not a YYYY-MM month\n$/,
    ],
    [["serve"], /^mldeploy: error: setting "model" is required: .*MLDEPLOY_MODEL/],
    [
      ["serve", "/nonexistent/model"],
      /^mldeploy: error: model bundle \/nonexistent\/model: directory does not exist\n$/,
    ],
    [["serve", "x", "--port", "99999"], /^mldeploy: error: invalid setting "port" \(from --port\)/],
    [["predict", "/nonexistent/model"], /^mldeploy: error: give --json/],
    // Usage mistakes caught by the parser exit 2 as well, with a pointer to --help.
    [["serve", "x", "--bogus"], /^error: unknown option '--bogus'\n\(run with --help for usage\)/],
    [["no-such-verb"], /^error: unknown command 'no-such-verb'/],
    [["batch", "merge"], /^error: required option '--sink <file>' not specified/],
    [
      ["batch", "merge", "--sink", "/nonexistent/p.parquet"],
      /^mldeploy: error: .*no committed parts/,
    ],
  ])("%j", async (args, message) => {
    const result = await runCli(args);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(result.status).toBe(2);
  });

  it("sample-data --events writes ride events for produce --file, one JSON line each", async () => {
    const dir = tempDir("mldeploy-cli-events-");
    const file = path.join(dir, "rides.jsonl");
    const result = await runCli([
      "sample-data",
      "--out",
      path.join(dir, "data"),
      "--rows",
      "50",
      "--events",
      file,
    ]);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain(`${file} (100 ride events)`);
    const events = readFileSync(file, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { ride: Record<string, number>; ride_id: number });
    expect(events.map((e) => e.ride_id)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(Object.keys(events[0].ride).sort()).toEqual([
      "DOLocationID",
      "PULocationID",
      "trip_distance",
    ]);
  });

  it("gives options after a subcommand to the subcommand (batch history --data-dir)", async () => {
    const dir = tempDir("mldeploy-cli-history-");
    const result = await runCli(["batch", "history", "--data-dir", dir], { cwd: tempDir() });
    expect(result.stderr).toBe("");
    expect(result.stdout.trim()).toBe("(none)");
    expect(result.status).toBe(0);
  });

  it("produce --file that is missing or a directory: one line before any broker is contacted", async () => {
    // Port 1: were the broker contacted first, the error would be "cannot connect".
    const missing = await runCli([
      "produce",
      "--to",
      "nats://127.0.0.1:1/x",
      "--file",
      "nope.jsonl",
    ]);
    expect([missing.status, missing.stderr]).toEqual([
      2,
      "mldeploy: error: --file nope.jsonl does not exist\n",
    ]);
    const dir = tempDir();
    const directory = await runCli(["produce", "--to", "nats://127.0.0.1:1/x", "--file", dir]);
    expect([directory.status, directory.stderr]).toEqual([
      2,
      `mldeploy: error: --file ${dir} is not a file\n`,
    ]);
  });

  it("names the env variable a bad setting came from", async () => {
    const result = await runCli(["serve", "x"], { env: { MLDEPLOY_WORKERS: "many" } });
    expect(result.stderr).toMatch(/invalid setting "workers" \(from MLDEPLOY_WORKERS\)/);
    expect(result.status).toBe(2);
  });

  it("names the config file a bad setting came from", async () => {
    const dir = tempDir("mldeploy-cli-");
    writeFileSync(path.join(dir, "mldeploy.config.yaml"), "serve:\n  maxBatchSize: 0\n");
    const result = await runCli(["serve", "x"], { cwd: dir });
    expect(result.stderr).toMatch(
      /invalid setting "maxBatchSize" \(from config file .*mldeploy.config.yaml\)/,
    );
    expect(result.status).toBe(2);
  });
});

describe.concurrent("a server that cannot be reached: one line naming it, exit 1", () => {
  // Port 1 on the loopback: nothing listens there, so every connection is refused at once.
  it.each([
    [["consume", "--from", "nats://127.0.0.1:1/rides"], "nats://127.0.0.1:1"],
    [["consume", "--from", "redis://127.0.0.1:1/rides"], "redis://127.0.0.1:1/rides"],
    [["consume", "--from", "kafka://127.0.0.1:1/rides"], "kafka://127.0.0.1:1/rides"],
    [
      ["runs", "list", "--registry-url", "postgres://someone:secret@127.0.0.1:1/test"],
      "postgres://someone@127.0.0.1:1/test",
    ],
  ])("%j", async (args, named) => {
    const result = await runCli(args);
    expect(result.status).toBe(1);
    expect(result.stderr.startsWith(`mldeploy: error: cannot connect to `)).toBe(true);
    expect(result.stderr).toContain(named);
    expect(result.stderr).not.toContain("secret");
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe("a port that is taken: one line naming it, exit 2", () => {
  let taken: Server;
  let port: number;
  let bundle: string;
  beforeAll(async () => {
    bundle = await rideBundlePath();
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    port = (taken.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => taken.close(() => resolve())));

  it.each([
    [
      "serve",
      (p: string) => ["serve", bundle, "--host", "127.0.0.1", "--port", p, "--workers", "1"],
    ],
    [
      "serve with 2 workers",
      (p: string) => ["serve", bundle, "--host", "127.0.0.1", "--port", p, "--workers", "2"],
    ],
    ["registry-server", (p: string) => ["registry-server", "--host", "127.0.0.1", "--port", p]],
    [
      "batch --metrics-port",
      (p: string) => {
        const db = path.join(tempDir(), "rides.db");
        return [...sqliteBatchArgs(bundle, db), "--metrics-port", p];
      },
    ],
  ])("%s", async (_name, args) => {
    const result = await runCli(args(String(port)), {
      env: { MLDEPLOY_DATA_DIR: path.join(tempDir(), "registry"), MLDEPLOY_LOG_LEVEL: "silent" },
    });
    // batch's metrics server listens on every interface (0.0.0.0), the others where told.
    expect(result.stderr).toMatch(
      new RegExp(
        `^mldeploy: error: cannot listen on (127\\.0\\.0\\.1|0\\.0\\.0\\.0):${port}: the port is already in use; choose another port or host\\n$`,
      ),
    );
    expect(result.status).toBe(2);
  });
});

describe.concurrent("with a trained bundle", () => {
  let bundle: string;
  beforeAll(async () => {
    bundle = await rideBundlePath();
  });

  it("predict --json prints one JSON line per ride", async () => {
    const result = await runCli([
      "predict",
      bundle,
      "--json",
      '[{"PULocationID": 10, "DOLocationID": 50, "trip_distance": 4}, {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}]',
    ]);
    expect(result.status).toBe(0);
    const lines = result.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { duration: number; model_version: string });
    expect(lines).toHaveLength(2);
    expect(lines[0].duration).toBeGreaterThan(1);
    expect(lines[0].model_version).toMatch(/^[0-9a-f]{32}$/);
  });

  it("predict --input - reads JSON lines and reports the bad one", async () => {
    const ok = await runCli(["predict", bundle, "--input", "-"], {
      input:
        '{"PULocationID": 10, "DOLocationID": 50, "trip_distance": 4}\n\n{"PULocationID": 1, "DOLocationID": 2, "trip_distance": 0}\n',
    });
    expect(ok.status).toBe(0);
    expect(ok.stdout.trim().split("\n")).toHaveLength(2);
    const bad = await runCli(["predict", bundle, "--input", "-"], {
      input: '{"PULocationID": 10}\n',
    });
    expect(bad.stderr).toMatch(/^mldeploy: error: field "DOLocationID".*is required/);
    expect(bad.status).toBe(2);
    const broken = await runCli(["predict", bundle, "--input", "-"], { input: "{oops\n" });
    expect(broken.stderr).toMatch(/^mldeploy: error: line 1: not valid JSON/);
  });

  it("batch --partition i/N workers into one Parquet file, then batch merge makes the file", async () => {
    const dir = tempDir("mldeploy-cli-merge-");
    const rides = makeRides(300);
    const json = path.join(dir, "rides.json");
    writeFileSync(json, JSON.stringify(rides));
    const input = path.join(dir, "rides.parquet");
    await withDuckDB((db) =>
      db.run(
        `COPY (SELECT * FROM read_json(${sqlString(json)})) TO ${sqlString(input)} (FORMAT parquet)`,
      ),
    );
    const output = path.join(dir, "predictions.parquet");
    const env = { MLDEPLOY_DATA_DIR: path.join(dir, "registry") };
    for (const partition of ["0/2", "1/2"]) {
      const worker = await runCli(
        [
          "batch",
          "--model",
          bundle,
          "--source",
          input,
          "--id-column",
          "ride_id",
          "--sink",
          output,
          "--partition",
          partition,
        ],
        { env },
      );
      expect(worker.status, worker.stderr).toBe(0);
    }
    // Workers leave the merge to `batch merge`: the file appears only then.
    expect(existsSync(output)).toBe(false);
    const merge = await runCli(["batch", "merge", "--sink", output], { env });
    expect(merge.status, merge.stderr).toBe(0);
    const good = rides.filter((ride) => !isBadRide(ride)).length;
    expect(merge.stdout).toContain(`${output}: ${good} predictions`);
    const count = await withDuckDB(async (db) =>
      Number(
        (
          await db.runAndReadAll(
            `SELECT count(DISTINCT ride_id) FROM read_parquet(${sqlString(output)})`,
          )
        ).getRows()[0][0],
      ),
    );
    expect(count).toBe(good);
  });

  it("info --json shows the request schema, features and training metrics", async () => {
    const result = await runCli(["info", bundle, "--json"]);
    expect(result.status).toBe(0);
    const info = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(info.output).toBe("duration");
    // Self-contained: the graph builds PU_DO from the request's columns, no map is left.
    expect(info.features).toBeNull();
    expect((info.request_schema as Array<{ name: string }>).map((c) => c.name)).toEqual([
      "PULocationID",
      "DOLocationID",
      "trip_distance",
    ]);
    expect(info.training).toMatchObject({ metrics: { valid_rmse: expect.any(Number) } });
  });

  it("info and predict take registry URIs as serve, batch and stream do", async () => {
    const env = { MLDEPLOY_DATA_DIR: path.join(tempDir("mldeploy-cli-uri-"), "registry") };
    const registry = await Registry.open({ dataDir: env.MLDEPLOY_DATA_DIR });
    try {
      const run = await registry.startRun({ experiment: "nyc-taxi" });
      await run.logModel(bundle, { register: "ride-duration" });
      await run.end();
      await registry.setAlias("ride-duration", "production", 1);
    } finally {
      await registry.close();
    }
    const info = await runCli(["info", "models:/ride-duration@production", "--json"], { env });
    expect(info.status, info.stderr).toBe(0);
    const shown = JSON.parse(info.stdout) as { path: string; output: string };
    expect(shown.output).toBe("duration");
    // The registry's copy (its artifact store or cache), not the bundle it was logged from.
    expect(shown.path.startsWith(env.MLDEPLOY_DATA_DIR)).toBe(true);

    const record = '{"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}';
    const [byUri, byPath] = await Promise.all([
      runCli(["predict", "models:/ride-duration/1", "--json", record], { env }),
      runCli(["predict", bundle, "--json", record]),
    ]);
    expect(byUri.status, byUri.stderr).toBe(0);
    const duration = (stdout: string) => (JSON.parse(stdout) as { duration: number }).duration;
    expect(duration(byUri.stdout)).toBe(duration(byPath.stdout));

    const missing = await runCli(["info", "models:/ride-duration@staging"], { env });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^mldeploy: error: .*staging/);
  });
});
