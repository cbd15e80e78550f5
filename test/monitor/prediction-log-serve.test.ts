import { copyFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withDuckDB, sqlString } from "../../src/duckdb/index.js";
import { readPredictionLog } from "../../src/monitor/prediction-log/reader.js";
import { startServeProcess, type ServeProcess } from "../helpers/serve-process.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import {
  CLASS_RIDES,
  LABEL,
  TEXT_CLASSES,
  expectedFor,
  saveClassifierBundle,
  textLabel,
} from "../model/classifier-bundles.js";

const MODEL = "ride-duration";
let bundle: string;
const running: ServeProcess[] = [];

beforeAll(async () => {
  bundle = await rideBundlePath();
}, 60_000);

afterAll(() => {
  for (const each of running) each.kill("SIGKILL");
});

async function serve(dir: string, ...extra: string[]): Promise<ServeProcess> {
  const server = await startServeProcess([
    bundle,
    "--port",
    "0",
    "--workers",
    "1",
    "--model-name",
    MODEL,
    "--log-predictions",
    "--log-predictions-dir",
    dir,
    ...extra,
  ]);
  running.push(server);
  return server;
}

function ride(i: number) {
  return {
    PULocationID: 1 + (i % 200),
    DOLocationID: 1 + ((i * 7) % 200),
    trip_distance: 0.5 + i / 10,
  };
}

async function predict(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${url}/predict`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { duration: number } | Array<{ duration: number }>;
}

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((each) => each.startsWith(`${name}{`));
  return line === undefined ? 0 : Number(line.split(" ").at(-1));
}

async function files(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (folder: string) => {
    for (const entry of await readdir(folder, { withFileTypes: true }).catch(() => [])) {
      const full = path.join(folder, entry.name);
      if (entry.isDirectory()) await walk(full);
      else found.push(full);
    }
  };
  await walk(dir);
  return found.sort();
}

function warnings() {
  const seen: string[] = [];
  return { seen, logger: { warn: (_: unknown, message: string) => void seen.push(message) } };
}

describe("prediction log of mldeploy serve", () => {
  it("logs every request's inputs, prediction and id, and SIGTERM writes what is queued", async () => {
    const dir = tempDir("mldeploy-predlog-");
    // The timer never fires within the test: only the shutdown can have written the rows.
    const server = await serve(dir, "--log-flush-ms", "3600000");
    const answers = new Map<string, number>();
    for (let i = 0; i < 25; i++) {
      const body = i % 2 === 0 ? { ...ride(i), ride_id: `r${i}` } : ride(i);
      const headers: Record<string, string> = i % 2 === 0 ? {} : { "x-request-id": `q${i}` };
      const answer = (await predict(server.url, body, headers)) as { duration: number };
      answers.set(i % 2 === 0 ? `r${i}` : `q${i}`, answer.duration);
    }
    // One request of 3 rows without ids: one row each, with an id unique to the process.
    const many = (await predict(server.url, [ride(100), ride(101), ride(102)])) as Array<{
      duration: number;
    }>;
    expect(await files(dir)).toEqual([]);
    server.kill("SIGTERM");
    expect(await server.exited).toBe(0);

    const read = await readPredictionLog({ dir, model: MODEL });
    expect(read.skipped).toEqual([]);
    expect(read.rows).toHaveLength(28);
    for (let i = 0; i < 25; i++) {
      const id = i % 2 === 0 ? `r${i}` : `q${i}`;
      const row = read.rows.find((each) => each.id === id);
      expect(row, id).toMatchObject({
        model: MODEL,
        mode: "serve",
        PULocationID: ride(i).PULocationID,
        DOLocationID: ride(i).DOLocationID,
        trip_distance: ride(i).trip_distance,
        duration: answers.get(id),
      });
      expect(row?.time).toBeInstanceOf(Date);
      expect(Math.abs(Date.now() - (row?.time as Date).getTime())).toBeLessThan(600_000);
    }
    const listed = read.rows.filter((each) => !answers.has(String(each.id)));
    expect(new Set(listed.map((each) => each.id)).size).toBe(3);
    expect(listed.map((each) => each.duration).sort()).toEqual(
      many.map((each) => each.duration).sort(),
    );
    // Typed columns, as the model's signature says (zone ids are integers in Parquet).
    const types = await withDuckDB(async (connection) => {
      const result = await connection.runAndReadAll(
        `DESCRIBE SELECT * FROM read_parquet(${sqlString(path.join(dir, "**", "*.parquet"))})`,
      );
      return Object.fromEntries(
        result.getRowObjectsJS().map((row) => [String(row.column_name), String(row.column_type)]),
      );
    });
    expect(types).toMatchObject({
      time: "TIMESTAMP",
      model: "VARCHAR",
      id: "VARCHAR",
      duration: "DOUBLE",
      trip_distance: "DOUBLE",
    });
    expect(types.PULocationID).toMatch(/INT/);
    // The stop merged the process's parts of the hour: one file, named by hour, host and pid.
    const written = await files(dir);
    expect(written).toHaveLength(1);
    expect(path.relative(dir, written[0])).toMatch(
      new RegExp(
        `^ride-duration/\\d{4}-\\d{2}-\\d{2}/\\d{2}-[A-Za-z0-9._]+-${server.child.pid}\\.parquet$`,
      ),
    );
  }, 30_000);

  it("logs a classifier's label and its probability of each class, answering as before", async () => {
    const dir = tempDir("mldeploy-predlog-class-");
    const classifier = await saveClassifierBundle(tempDir("mldeploy-class-bundle-"), "string");
    const server = await startServeProcess([
      classifier,
      "--port",
      "0",
      "--workers",
      "1",
      "--model-name",
      "ride-class",
      "--log-predictions",
      "--log-predictions-dir",
      dir,
    ]);
    running.push(server);
    const rides = CLASS_RIDES.map((each, i) => ({ ...each, ride_id: `c${i}` }));
    const response = await fetch(`${server.url}/predict`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(rides),
    });
    // The caller did not ask for probabilities: the answer is the label only, as without the log.
    expect(await response.json()).toEqual(
      CLASS_RIDES.map((each) => ({
        [LABEL]: textLabel(each.trip_distance),
        model_version: expect.any(String),
      })),
    );
    server.kill("SIGTERM");
    expect(await server.exited).toBe(0);

    const read = await readPredictionLog({ dir, model: "ride-class" });
    expect(read.rows).toHaveLength(CLASS_RIDES.length);
    for (const [i, each] of CLASS_RIDES.entries()) {
      const row = read.rows.find((logged) => logged.id === `c${i}`);
      const [long, short] = expectedFor(each.trip_distance).probabilities;
      expect(row, `c${i}`).toMatchObject({ [LABEL]: textLabel(each.trip_distance) });
      expect(TEXT_CLASSES).toEqual(["long", "short"]);
      expect(row?.probability_long).toBeCloseTo(long, 12);
      expect(row?.probability_short).toBeCloseTo(short, 12);
    }
  }, 30_000);

  it("logs a sampled share of the rows with --log-sample", async () => {
    const dir = tempDir("mldeploy-predlog-");
    const server = await serve(dir, "--log-sample", "0.5");
    await predict(
      server.url,
      Array.from({ length: 400 }, (_, i) => ride(i)),
    );
    server.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    const { rows } = await readPredictionLog({ dir, model: MODEL });
    // Binomial(400, 0.5): outside [120, 280] with probability below 1e-15.
    expect(rows.length).toBeGreaterThan(120);
    expect(rows.length).toBeLessThan(280);
  }, 30_000);

  it("logs everything in cluster mode (2 workers, one file set per process)", async () => {
    const dir = tempDir("mldeploy-predlog-");
    const server = await startServeProcess([
      bundle,
      "--port",
      "0",
      "--workers",
      "2",
      "--model-name",
      MODEL,
      "--log-predictions",
      "--log-predictions-dir",
      dir,
    ]);
    running.push(server);
    await Promise.all(
      Array.from({ length: 60 }, (_, i) => predict(server.url, { ...ride(i), ride_id: i })),
    );
    server.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    const { rows, skipped } = await readPredictionLog({ dir, model: MODEL });
    expect(skipped).toEqual([]);
    expect(rows.map((row) => Number(row.id)).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 60 }, (_, i) => i),
    );
  }, 40_000);

  it("drops what does not fit in the queue, counts it on /metrics, and answers every request", async () => {
    const dir = tempDir("mldeploy-predlog-");
    const server = await serve(dir, "--log-queue-rows", "5", "--log-flush-ms", "3600000");
    // 10 rows cannot fit in a queue of 5: all dropped, the request still answered.
    const answer = await predict(
      server.url,
      Array.from({ length: 10 }, (_, i) => ride(i)),
    );
    expect(answer).toHaveLength(10);
    expect(await metric(server.url, "mldeploy_prediction_log_dropped_total")).toBe(10);
    // 3 rows fit (and, being over half the queue, are written at once).
    await predict(server.url, [ride(1), ride(2), ride(3)]);
    let written = 0;
    for (let i = 0; i < 100 && written < 3; i++) {
      written = await metric(server.url, "mldeploy_prediction_log_written_total");
      if (written < 3) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(written).toBe(3);
    server.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    expect((await readPredictionLog({ dir, model: MODEL })).rows).toHaveLength(3);
  }, 30_000);

  it("after kill -9 every file is whole; a torn file is skipped with a warning naming it", async () => {
    const dir = tempDir("mldeploy-predlog-");
    const server = await serve(dir, "--log-flush-ms", "50");
    for (let i = 0; i < 20; i++) await predict(server.url, { ...ride(i), ride_id: i });
    let written = 0;
    for (let i = 0; i < 100 && written < 20; i++) {
      written = await metric(server.url, "mldeploy_prediction_log_written_total");
      if (written < 20) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(written).toBe(20);
    // Keep it busy writing, then kill it without warning.
    const busy = Array.from({ length: 50 }, (_, i) =>
      predict(server.url, { ...ride(i), ride_id: 100 + i }).catch(() => undefined),
    );
    server.kill("SIGKILL");
    await Promise.all(busy);
    await server.exited;

    const [first] = (await files(dir)).filter((file) => file.endsWith(".parquet"));
    // What a kill in the middle of a COPY leaves: half a file under the temporary name.
    const bytes = await readFile(first);
    const torn = first.replace(/-(\d{6})\.parquet$/, "-999999.parquet.tmp");
    await writeFile(torn, bytes.subarray(0, bytes.length >> 1));
    const { seen, logger } = warnings();
    const read = await readPredictionLog({ dir, model: MODEL, logger });
    expect(read.skipped.map((each) => each.file)).toEqual([torn]);
    expect(seen.join("\n")).toContain(torn);
    // Every finished file reads whole: the 20 written before the kill are all there.
    const ids = new Set(read.rows.map((row) => Number(row.id)));
    for (let i = 0; i < 20; i++) expect(ids.has(i)).toBe(true);
  }, 30_000);

  it("skips, with a warning naming it, a file of another format version or another model", async () => {
    const dir = tempDir("mldeploy-predlog-");
    const server = await serve(dir);
    await predict(server.url, { ...ride(1), ride_id: "kept" });
    server.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    const [good] = await files(dir);
    const folder = path.dirname(good);
    const older = path.join(folder, "00-old-1-000001.parquet");
    const other = path.join(folder, "00-other-1-000001.parquet");
    const notLog = path.join(folder, "00-plain-1-000001.parquet");
    const broken = path.join(folder, "00-broken-1-000001.parquet");
    await withDuckDB(async (connection) => {
      await connection.run(
        `COPY (SELECT now()::TIMESTAMP AS time, 'x' AS id) TO ${sqlString(older)} (FORMAT parquet, KV_METADATA {"mldeploy.prediction_log.format": '0', "mldeploy.prediction_log.model": '${MODEL}'})`,
      );
      await connection.run(
        `COPY (SELECT now()::TIMESTAMP AS time, 'y' AS id) TO ${sqlString(other)} (FORMAT parquet, KV_METADATA {"mldeploy.prediction_log.format": '1', "mldeploy.prediction_log.model": 'another'})`,
      );
      await connection.run(`COPY (SELECT 1 AS a) TO ${sqlString(notLog)} (FORMAT parquet)`);
    });
    await mkdir(folder, { recursive: true });
    await copyFile(good, broken);
    await writeFile(broken, "not parquet at all");
    const { seen, logger } = warnings();
    const read = await readPredictionLog({ dir, model: MODEL, logger });
    expect(read.rows.map((row) => row.id)).toEqual(["kept"]);
    expect(read.skipped.map((each) => each.file).sort()).toEqual(
      [older, other, notLog, broken].sort(),
    );
    const text = seen.join("\n");
    for (const file of [older, other, notLog, broken]) expect(text).toContain(file);
    expect(text).toMatch(/format 0/);
    expect(text).toMatch(/model another/);
  }, 30_000);

  it("reads only the window asked for", async () => {
    const dir = tempDir("mldeploy-predlog-");
    const server = await serve(dir);
    // An id with the characters a CSV stage or SQL could trip on.
    await predict(server.url, { ...ride(1), ride_id: `now, "it's"\n` });
    server.kill("SIGTERM");
    expect(await server.exited).toBe(0);
    const now = Date.now();
    const inside = await readPredictionLog({
      dir,
      model: MODEL,
      from: new Date(now - 600_000),
      to: new Date(now + 600_000),
    });
    expect(inside.rows.map((row) => row.id)).toEqual([`now, "it's"\n`]);
    const before = await readPredictionLog({ dir, model: MODEL, to: new Date(now - 600_000) });
    expect(before.rows).toEqual([]);
    expect((await readPredictionLog({ dir, model: "nothing-here" })).rows).toEqual([]);
  }, 30_000);
});
