import { cp } from "node:fs/promises";
import net from "node:net";
import { pino } from "pino";
import { vi } from "vitest";
import type { Logger } from "../../src/log/logger.js";
import type { ModelInfo } from "../../src/model/types.js";
import { PredictionLog } from "../../src/monitor/prediction-log/writer.js";
import { readPredictionLog } from "../../src/monitor/prediction-log/reader.js";
import type { PartPublisher } from "../../src/monitor/prediction-log/publisher.js";
import { listLocalParts } from "../../src/monitor/prediction-log/sinks/index.js";
import { tempDir } from "../helpers/temp.js";

export const MODEL = "ride-duration";

export const quietLogger = (): Logger =>
  pino({ level: process.env.SINKS_TEST_LOG_LEVEL ?? "silent" });

/** Version 1: the ride columns; version 2 brings two more (an integer and a float). */
export function modelInfo(version: "1" | "2"): ModelInfo {
  const inputs: ModelInfo["inputs"] = [
    { name: "PULocationID", type: "long" },
    { name: "DOLocationID", type: "long" },
    { name: "trip_distance", type: "double" },
    { name: "vendor", type: "string" },
  ];
  if (version === "2")
    inputs.push({ name: "passengers", type: "integer" }, { name: "tip_ratio", type: "float" });
  return {
    name: MODEL,
    version,
    uuid: `uuid-${version}`,
    inputs,
    outputs: [{ name: "duration", type: "double" }],
    output: "duration",
    path: "/nowhere",
    loadMs: 0,
  };
}

export interface Batch {
  /** When the rows are logged (the writer stamps them with the clock). */
  at: string;
  version: "1" | "2";
  rows: number;
  /** First ride id. */
  first: number;
}

/** Records each batch at its time, one flush (one part) per batch. */
export async function recordBatches(log: PredictionLog, batches: Batch[]): Promise<void> {
  vi.useFakeTimers({ toFake: ["Date"] });
  try {
    for (const batch of batches) {
      vi.setSystemTime(new Date(batch.at));
      const info = modelInfo(batch.version);
      const ids = Array.from({ length: batch.rows }, (_, i) => `r-${batch.first + i}`);
      const n = (f: (i: number) => number) =>
        Float64Array.from({ length: batch.rows }, (_, i) => f(batch.first + i));
      const columns: Record<string, Float64Array | string[]> = {
        PULocationID: n((i) => 1 + (i % 200)),
        DOLocationID: n((i) => 1 + ((i * 7) % 200)),
        trip_distance: n((i) => (i % 13 === 0 ? NaN : 0.5 + i / 10)),
        vendor: ids.map((id, i) => (i % 5 === 0 ? `v"${id}, ü` : "plain")),
      };
      if (batch.version === "2") {
        columns.passengers = n((i) => i % 4);
        columns.tip_ratio = n((i) => (i % 10) / 10);
      }
      const values = n((i) => 5 + (i % 30) + i / 1000);
      log.record(info, { rows: batch.rows, columns }, values, ids);
      await log.flush();
    }
  } finally {
    vi.useRealTimers();
  }
}

/** The same rows in three hours of one day (two versions), as parts in a fresh directory. */
export const BATCHES: Batch[] = [
  { at: "2026-11-30T08:15:00.123Z", version: "1", rows: 40, first: 0 },
  { at: "2026-11-30T09:05:00.000Z", version: "1", rows: 25, first: 100 },
  { at: "2026-11-30T09:45:30.500Z", version: "2", rows: 30, first: 200 },
  { at: "2026-11-30T10:59:59.999Z", version: "2", rows: 1234, first: 300 },
];
export const TOTAL_ROWS = BATCHES.reduce((sum, batch) => sum + batch.rows, 0);

/** Parts written by the real writer (no publisher), and a copy of them to read as reference. */
export async function writtenLog(
  batches = BATCHES,
  publisher?: PartPublisher,
): Promise<{ dir: string; reference: string }> {
  const dir = tempDir("mldeploy-sinks-log-");
  const log = new PredictionLog({
    dir,
    mode: "serve",
    sample: 1,
    flushMs: 3_600_000,
    queueRows: 100_000,
    logger: quietLogger(),
    publisher,
    // The parts themselves are what the sinks copy: not merged into one file at close.
    compact: false,
  });
  await recordBatches(log, batches);
  await log.close();
  const reference = tempDir("mldeploy-sinks-ref-");
  await cp(dir, reference, { recursive: true });
  return { dir, reference };
}

/** The parts in `dir`, as the writer hands them to a publisher. */
export async function partsIn(dir: string) {
  const parts = await listLocalParts(dir);
  return parts.map(({ file, key }) => ({ file, key, model: MODEL, version: "?", rows: 0 }));
}

/** The rows of a log directory in [from, to), sorted, with `time` as ISO text. */
export async function rowsOf(dir: string, from?: Date, to?: Date) {
  const { rows, skipped } = await readPredictionLog({ dir, model: MODEL, from, to });
  if (skipped.length > 0) throw new Error(`skipped: ${JSON.stringify(skipped)}`);
  return rows.map((row): Record<string, unknown> => ({
    ...row,
    time: (row.time as Date).toISOString(),
  }));
}

/**
 * A TCP relay to a server, that can be stopped (connections cut, new ones refused: the server
 * is down as far as the client can tell) and started again on the same port.
 */
export async function relay(target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;
  const listen = async () => {
    if (server) return;
    server = net.createServer((client) => {
      const upstream = net.connect(target.port, target.host);
      sockets.add(client).add(upstream);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server!.listen(port, "127.0.0.1", resolve));
    port = (server.address() as net.AddressInfo).port;
  };
  await listen();
  const stop = async () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    const closing = server;
    server = undefined;
    if (closing) await new Promise((resolve) => closing.close(resolve));
  };
  return {
    get port() {
      return port;
    },
    stop,
    start: listen,
  };
}

/** Waits until `check` holds (polling), or fails with `what`. */
export async function eventually(check: () => Promise<boolean>, what: string, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
