import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPredictor } from "../../src/model/predictor.js";
import type { Predictor } from "../../src/model/types.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { startServeProcess, type ServeProcess } from "../helpers/serve-process.js";

/**
 * A 15 MB text/csv body against `mldeploy serve` as a real process: its event loop is never
 * held long (so other requests are answered meanwhile), and its peak memory stays within a
 * few times the body (the kernel's VmHWM of the process, reset before the request).
 */

const BODY_BYTES = 15_000_000;
// The whole-body parser this replaced held the loop for 1.5-3.6 s (5-8 s on a loaded machine).
const MAX_BLOCKED_MS = 200;

let server: ServeProcess;
let predictor: Predictor;
beforeAll(async () => {
  const bundle = await rideBundlePath();
  predictor = await loadPredictor(bundle);
  server = await startServeProcess(
    [
      bundle,
      "--port",
      "0",
      "--host",
      "127.0.0.1",
      "--workers",
      "1",
      // Room for 15 MB of three-number rows (about 1.2 million).
      "--max-rows",
      "2000000",
    ],
    {
      env: {
        NODE_OPTIONS: `--import ${pathToFileURL(path.resolve("test/serve/helpers/loop-probe.mjs")).href}`,
      },
    },
  );
});
afterAll(async () => {
  server?.kill("SIGKILL");
  await server?.exited;
  await predictor?.close();
});

const pid = () => server.child.pid as number;

function statusKb(field: "VmHWM" | "VmRSS"): number {
  const status = readFileSync(`/proc/${pid()}/status`, "utf8");
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
}

/** Peak resident memory (bytes) of the server process while `work` runs, above where it started. */
async function peakGrowth<T>(work: () => Promise<T>): Promise<{ result: T; bytes: number }> {
  // "5" resets the peak resident set size (VmHWM) to the current one (Linux >= 4.0).
  writeFileSync(`/proc/${pid()}/clear_refs`, "5");
  const before = statusKb("VmRSS");
  const result = await work();
  return { result, bytes: (statusKb("VmHWM") - before) * 1024 };
}

/**
 * The longest stretch the server's main thread held its event loop (in CPU time, see
 * helpers/loop-probe.mjs) since the previous call.
 */
async function loopReport(): Promise<{ maxBlockedMs: number; maxWallGapMs: number }> {
  const seen = server.output().length;
  server.kill("SIGUSR2");
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const line = /\{"loopProbe":(\{[^}]*\})\}/.exec(server.output().slice(seen));
    if (line) return JSON.parse(line[1]) as { maxBlockedMs: number; maxWallGapMs: number };
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error("the loop probe did not report");
}

async function postCsv(body: string): Promise<{ status: number; json: unknown }> {
  const answer = await fetch(`${server.url}/invocations`, {
    method: "POST",
    headers: { "content-type": "text/csv" },
    body,
  });
  return { status: answer.status, json: await answer.json() };
}

const ride = (i: number) => ({
  PULocationID: 1 + (i % 265),
  DOLocationID: 1 + ((i * 7) % 265),
  trip_distance: (i % 400) / 10,
});

/**
 * 15 MB of narrow rows (the most cells per byte), the very last one bad: the whole body is
 * read and validated, and the answer names that row.
 */
function narrowBody(): { body: string; badRow: number } {
  const lines = ["PULocationID,DOLocationID,trip_distance"];
  let bytes = lines[0].length + 1;
  let i = 0;
  while (bytes < BODY_BYTES - 20) {
    const r = ride(i++);
    const line = `${r.PULocationID},${r.DOLocationID},${r.trip_distance}`;
    lines.push(line);
    bytes += line.length + 1;
  }
  lines.push("10,50,far");
  const body = lines.join("\n") + "\n";
  expect(body.length).toBeGreaterThan(BODY_BYTES - 100);
  return { body, badRow: i };
}

describe("a 15 MB text/csv body to /invocations", () => {
  it("is parsed as it streams in: the event loop never held 200 ms, memory within 4x the body, a bad last row named", async () => {
    const { body, badRow } = narrowBody();
    // Warm up the route so that the measurement sees the request, not first-use costs.
    await postCsv("PULocationID,DOLocationID,trip_distance\n1,2,3\n");
    await loopReport();
    const { result, bytes: growth } = await peakGrowth(() => postCsv(body));
    const loop = await loopReport();
    expect(result).toEqual({
      status: 400,
      json: {
        error_code: "INVALID_PARAMETER_VALUE",
        message: `field "trip_distance" (row ${badRow}) must be a number, got "far"`,
      },
    });
    expect(loop.maxBlockedMs).toBeLessThan(MAX_BLOCKED_MS);
    expect(growth).toBeLessThan(4 * body.length);
  });

  it("four such bodies at once: memory within 4x the four bodies, the loop never held 200 ms", async () => {
    const { body, badRow } = narrowBody();
    await loopReport();
    const { result, bytes: growth } = await peakGrowth(() =>
      Promise.all(Array.from({ length: 4 }, () => postCsv(body))),
    );
    const loop = await loopReport();
    for (const answer of result) {
      expect(answer).toMatchObject({
        status: 400,
        json: { message: expect.stringContaining(`(row ${badRow})`) },
      });
    }
    expect(loop.maxBlockedMs).toBeLessThan(MAX_BLOCKED_MS);
    expect(growth).toBeLessThan(4 * 4 * body.length);
  });

  it("wide rows with quoted text: every prediction as the model gives it, the event loop never held 200 ms", async () => {
    // The default maxRows (100,000) of 150-byte rows with extra columns, quotes and commas.
    const rows = 100_000;
    const rides = Array.from({ length: rows }, (_, k) => ride(k * 13));
    const note = `"a note, with ""quotes"" and commas, ${"x".repeat(90)}"`;
    const body =
      "ride_id,PULocationID,DOLocationID,trip_distance,note\r\n" +
      rides
        .map(
          (r, k) =>
            `${100_000_000 + k},${r.PULocationID},${r.DOLocationID},${r.trip_distance},${note}\r\n`,
        )
        .join("");
    expect(body.length).toBeGreaterThan(BODY_BYTES);
    const want = Array.from((await predictor.predictRecords(rides)).values as Float64Array);

    await loopReport();
    const result = await postCsv(body);
    const loop = await loopReport();
    expect(result.status).toBe(200);
    const predictions = (result.json as { predictions: Array<{ duration: number }> }).predictions;
    // Compared as numbers: a mismatch among 100,000 records would take minutes to print.
    expect(predictions.length).toBe(want.length);
    expect(predictions.every((row, i) => row.duration === want[i])).toBe(true);
    expect(loop.maxBlockedMs).toBeLessThan(MAX_BLOCKED_MS);
  });
});
