import { spawn, type ChildProcess } from "node:child_process";
import { afterAll } from "vitest";
import type { StreamSource } from "../../../src/stream/types.js";
import { CLI } from "../../helpers/cli.js";

const decoder = new TextDecoder();

/**
 * Reads prediction events from `from` into `into` (ride_id → times predicted), acking them,
 * until `count` distinct rides have one or `timeoutMs` has passed.
 */
export async function collectPredictions(
  from: StreamSource,
  into: Map<number, number>,
  count: number,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (into.size < count && Date.now() < deadline) {
    const messages = await from.read({ maxMessages: 1000, maxWaitMs: 200 });
    for (const m of messages) {
      const event = JSON.parse(decoder.decode(m.data)) as { prediction: { ride_id: number } };
      into.set(event.prediction.ride_id, (into.get(event.prediction.ride_id) ?? 0) + 1);
    }
    await from.ack(messages);
  }
}

/** JSON lines of ride events in the original format, ride ids from (inclusive) to to. */
export function rideEventLines(from: number, to: number): string {
  return Array.from({ length: to - from }, (_, n) => from + n)
    .map((i) =>
      JSON.stringify({
        ride: {
          PULocationID: 1 + (i % 200),
          DOLocationID: 1 + ((i * 7) % 250),
          trip_distance: (i % 30) / 3,
        },
        ride_id: i,
      }),
    )
    .join("\n");
}

export interface ConsumerProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  /** The last 64 KiB of the child's stderr (errors outside the log), for assertion messages. */
  stderr(): string;
  /** The last 64 KiB of its log (JSON lines on stdout, warn level and above). */
  logs(): string;
}

const STDERR_KEPT = 64 * 1024;

/** Starts `mldeploy stream` as a child process (group "scorers"), its logs at warn level. */
export function startStreamProcess(settings: {
  model: string;
  source: string;
  sink: string;
  batchSize: number;
  env?: NodeJS.ProcessEnv;
}): ConsumerProcess {
  const child = spawn(
    process.execPath,
    [
      CLI,
      "stream",
      "--model",
      settings.model,
      "--source",
      settings.source,
      "--sink",
      settings.sink,
      "--group",
      "scorers",
      "--batch-size",
      String(settings.batchSize),
    ],
    {
      env: { ...process.env, ...settings.env, MLDEPLOY_LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_KEPT);
  });
  let logs = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    logs = (logs + chunk).slice(-STDERR_KEPT);
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  running.add(child);
  void exited.then(() => running.delete(child));
  return { child, exited, stderr: () => stderr, logs: () => logs };
}

/**
 * Consumers still running when a file's tests end: a test that timed out never reached its
 * own kill, and a consumer left behind would go on reading the broker after the run.
 */
const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) child.kill("SIGKILL");
});
