/**
 * `npm run bench:stream [-- --events 200000 --rate 5000 --seconds 10 --brokers nats,redis
 *  --nats 127.0.0.1:4222 --redis 127.0.0.1:6379 --batch-size N --max-wait-ms N --timeout 600]`
 *
 * Ride events in → predict → predictions out, through NATS JetStream and Redis Streams,
 * measured end to end: from the first publish to the last prediction read back from the output
 * stream. The consumer is the real `mldeploy stream` in its own process (the CLI), so the
 * producer (a worker thread) and the reader (this thread) do not share its event loop. In the
 * same run, the ceiling: the same consumer loop and transports in a process of their own with
 * a constant prediction instead of the model. Then a latency run: events published at a steady
 * rate for a bounded time, latency = prediction read back − event published, per event.
 * Streams and keys are named per run and deleted afterwards.
 *
 * One job over ~440 lines: one end-to-end run of the stream benchmark, its ceiling and latency
 * phases sharing the same producer, reader and report.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { Redis } from "ioredis";
import { closeNats, connectNats, ensureStream } from "../stream/nats/connection.js";
import { streamOptionsSchema } from "../stream/options.js";
import { benchModel } from "./model.js";
import { sharedClock, type Broker, type ProducerDone, type ProducerJob } from "./stream-events.js";
import { openReader, type Arrivals } from "./stream-reader.js";

const defaults = streamOptionsSchema.parse({ model: "x", source: "x", sink: "x" });
const { values: args } = parseArgs({
  options: {
    events: { type: "string", default: "200000" },
    rate: { type: "string", default: "5000" },
    warmup: { type: "string", default: "2" },
    "paced-max-wait-ms": { type: "string", default: `${defaults.maxWaitMs},5` },
    seconds: { type: "string", default: "10" },
    brokers: { type: "string", default: "nats,redis" },
    nats: { type: "string", default: "127.0.0.1:4222" },
    redis: { type: "string", default: "127.0.0.1:6379" },
    "batch-size": { type: "string", default: String(defaults.batchSize) },
    "max-wait-ms": { type: "string", default: String(defaults.maxWaitMs) },
    rounds: { type: "string", default: "2" },
    timeout: { type: "string", default: "900" },
  },
});
const EVENTS = Number(args.events);
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
/** Seconds of paced events sent first and left out of the latency figures (JIT, first calls). */
const WARMUP = Number(args.warmup);
const PACED_WAITS = args["paced-max-wait-ms"].split(",").map(Number);
const BATCH_SIZE = Number(args["batch-size"]);
const MAX_WAIT_MS = Number(args["max-wait-ms"]);
const ROUNDS = Number(args.rounds);
/** The whole benchmark ends by then, finished or not. */
const BENCH_DEADLINE = Date.now() + Number(args.timeout) * 1000;

const script = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));
const BROKER_NAMES: Record<Broker, string> = { nats: "NATS JetStream", redis: "Redis Streams" };
const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits });

interface Scenario {
  broker: Broker;
  consumer: "model" | "ceiling";
  events: number;
  rate?: number;
  /** The first this many events are not counted in the latency figures. */
  warmupEvents?: number;
  /** The consumer's --max-wait-ms (default: --max-wait-ms). */
  maxWaitMs?: number;
  /**
   * All events are published before the consumer starts, and the run is timed from its start:
   * the consumer's own capacity, without the producer competing for the cores.
   */
  prefilled?: boolean;
}

interface Measured {
  scenario: Scenario;
  distinct: number;
  duplicates: number;
  seconds: number;
  eventsPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** CPU time the consumer process spent per event (Linux), whatever else the machine ran. */
  consumerCpuUs?: number;
  /** CPU time the broker spent per event, when it runs on this machine (Linux). */
  brokerCpuUs?: number;
}

const BROKER_PROCESSES: Record<Broker, string> = { nats: "nats-server", redis: "redis-server" };

/** The broker's process id, when exactly one such process runs here (a local broker). */
function brokerPid(broker: Broker): number | undefined {
  try {
    const pids = execFileSync("pgrep", ["-x", BROKER_PROCESSES[broker]], { encoding: "utf8" })
      .trim()
      .split("\n");
    return pids.length === 1 ? Number(pids[0]) : undefined;
  } catch {
    return undefined;
  }
}

/** User + system CPU time of a process so far, in µs (Linux /proc; undefined elsewhere). */
async function cpuMicros(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // Fields after the command (which may hold spaces) : utime is the 14th field, stime the 15th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) / 100) * 1e6;
  } catch {
    return undefined;
  }
}

function streamUrl(broker: Broker, name: string): string {
  return broker === "nats" ? `nats://${args.nats}/${name}` : `redis://${args.redis}/${name}`;
}

/**
 * NATS: creates the run's streams as the transport would (the reader's ordered consumer needs
 * its stream to exist before the consumer process creates it). Redis needs nothing.
 */
async function createStreams(broker: Broker, names: string[]): Promise<void> {
  if (broker !== "nats") return;
  const { nc, jsm } = await connectNats(
    { server: args.nats, stream: names[0] },
    "mldeploy bench setup",
  );
  for (const name of names) await ensureStream(jsm, name);
  await closeNats(nc);
}

/** Deletes the run's streams (NATS) or keys (Redis); the consumer group goes with them. */
async function dropStreams(broker: Broker, names: string[]): Promise<void> {
  if (broker === "nats") {
    const { nc, jsm } = await connectNats(
      { server: args.nats, stream: names[0] },
      "mldeploy bench cleanup",
    );
    for (const name of names) await jsm.streams.delete(name).catch(() => false);
    await closeNats(nc);
  } else {
    const [host, port] = args.redis.split(":");
    const client = new Redis({ host, port: Number(port ?? 6379), lazyConnect: true });
    await client.connect();
    await client.del(...names);
    client.disconnect();
  }
}

const children = new Set<ChildProcess>();

/** Starts a consumer process and resolves once it says it is consuming. */
async function startConsumer(
  scenario: Scenario,
  bundle: string,
  dataDir: string,
  source: string,
  sink: string,
): Promise<ChildProcess> {
  const maxWaitMs = scenario.maxWaitMs ?? MAX_WAIT_MS;
  const settings = ["--batch-size", String(BATCH_SIZE), "--max-wait-ms", String(maxWaitMs)];
  const argv =
    scenario.consumer === "model"
      ? [
          script("../cli/main.js"),
          "stream",
          "--model",
          bundle,
          "--source",
          source,
          "--sink",
          sink,
          "--group",
          "bench",
          "--log-level",
          "info",
          ...settings,
        ]
      : [
          script("./stream-ceiling.js"),
          JSON.stringify({
            model: bundle,
            source,
            sink,
            group: "bench",
            batchSize: BATCH_SIZE,
            maxWaitMs,
          }),
        ];
  // e.g. MLDEPLOY_BENCH_CONSUMER_NODE_ARGS="--cpu-prof" to profile the consumer process.
  const nodeArgs = (process.env.MLDEPLOY_BENCH_CONSUMER_NODE_ARGS ?? "").split(" ").filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, ...argv], {
    env: { ...process.env, MLDEPLOY_DATA_DIR: dataDir },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("consumer did not start within 60 s")), 60_000);
    child.once("exit", (code) =>
      reject(new Error(`consumer exited during startup (code ${code})`)),
    );
    lines.on("line", (line) => {
      if (/^ready$|"msg":"consuming /.test(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return child;
}

async function stopConsumer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function summarise(
  scenario: Scenario,
  sent: Float64Array,
  arrivals: Arrivals,
  startedAt: number,
): Measured {
  const latencies: number[] = [];
  for (let i = scenario.warmupEvents ?? 0; i < scenario.events; i++) {
    if (!Number.isNaN(arrivals.received[i])) latencies.push(arrivals.received[i] - sent[i]);
  }
  const sorted = Float64Array.from(latencies).sort();
  const seconds = (arrivals.lastAt - startedAt) / 1000;
  return {
    scenario,
    distinct: arrivals.distinct,
    duplicates: arrivals.duplicates,
    seconds,
    eventsPerSecond: arrivals.distinct / seconds,
    latencyMs: {
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
      max: sorted.length > 0 ? sorted[sorted.length - 1] : NaN,
    },
  };
}

async function run(scenario: Scenario, bundle: string, dataDir: string): Promise<Measured> {
  const suffix = randomBytes(4).toString("hex");
  const names = [`mldeploy_bench_rides_${suffix}`, `mldeploy_bench_predictions_${suffix}`];
  const [input, output] = names.map((name) => streamUrl(scenario.broker, name));
  const sentBuffer = new SharedArrayBuffer(scenario.events * 8);
  const sent = new Float64Array(sentBuffer).fill(NaN);
  let producer: Worker | undefined;
  let consumer: ChildProcess | undefined;
  await createStreams(scenario.broker, names);
  const reader = await openReader(scenario.broker, output, scenario.events);
  const broker = brokerPid(scenario.broker);
  try {
    const job: ProducerJob = {
      broker: scenario.broker,
      url: input,
      events: scenario.events,
      rate: scenario.rate,
      sent: sentBuffer,
    };
    const startProducer = () => {
      producer = new Worker(script("./stream-producer.js"), { workerData: job });
      const done = new Promise<ProducerDone>((resolve, reject) => {
        producer!.once("message", resolve);
        producer!.once("error", reject);
      });
      done.catch(() => undefined);
      return done;
    };
    const prefilled = scenario.prefilled ? await startProducer() : undefined;
    consumer = await startConsumer(scenario, bundle, dataDir, input, output);
    const startedAt = prefilled ? sharedClock() : undefined;
    const cpuBefore = await cpuMicros(consumer.pid);
    const brokerBefore = await cpuMicros(broker);
    const produced = prefilled ? Promise.resolve(prefilled) : startProducer();
    const consumerDied = new Promise<never>((_, reject) =>
      consumer!.once("exit", (code) => reject(new Error(`consumer exited (code ${code})`))),
    );
    consumerDied.catch(() => undefined);
    // A run may take as long as publishing at the slowest plausible rate, within the bench's bound.
    const deadline = Math.min(
      BENCH_DEADLINE,
      Date.now() + 30_000 + (scenario.events / (scenario.rate ?? 2000)) * 1000,
    );
    const arrivals = await Promise.race([
      reader.until(deadline),
      produced.then(() => reader.until(deadline)),
      consumerDied,
    ]);
    const cpuAfter = await cpuMicros(consumer.pid);
    const brokerAfter = await cpuMicros(broker);
    const measured = summarise(scenario, sent, arrivals, startedAt ?? sent[0]);
    if (cpuBefore !== undefined && cpuAfter !== undefined && arrivals.distinct > 0)
      measured.consumerCpuUs = (cpuAfter - cpuBefore) / arrivals.distinct;
    if (brokerBefore !== undefined && brokerAfter !== undefined && arrivals.distinct > 0)
      measured.brokerCpuUs = (brokerAfter - brokerBefore) / arrivals.distinct;
    if (arrivals.distinct < scenario.events) {
      console.log(
        `  (incomplete: ${fmt(arrivals.distinct)} of ${fmt(scenario.events)} predictions before the deadline)`,
      );
    }
    return measured;
  } finally {
    await producer?.terminate();
    if (consumer) await stopConsumer(consumer);
    await reader.close();
    await dropStreams(scenario.broker, names).catch((error: unknown) =>
      console.error(`cleanup of ${names.join(", ")} failed:`, error),
    );
  }
}

function describe(s: Scenario): string {
  const what =
    (s.consumer === "ceiling" ? "ceiling (constant)" : "model") +
    (s.prefilled ? ", consumer alone (stream filled first)" : "");
  const pace =
    s.rate === undefined
      ? ""
      : ` at ${fmt(s.rate)} events/s, --max-wait-ms ${s.maxWaitMs ?? MAX_WAIT_MS}` +
        ` (latency of the ${fmt(s.events - (s.warmupEvents ?? 0))} events after ${WARMUP} s of warm-up)`;
  return `${BROKER_NAMES[s.broker]}, ${what}${pace}`;
}

function report(m: Measured): void {
  const l = m.latencyMs;
  console.log(
    `${describe(m.scenario)}: ${fmt(m.eventsPerSecond)} events/s (${fmt(m.distinct)} events in ${m.seconds.toFixed(2)} s` +
      `${m.duplicates > 0 ? `, ${fmt(m.duplicates)} duplicates` : ""})` +
      // Events waiting in a filled stream have no meaningful latency.
      (m.scenario.prefilled
        ? ""
        : `; latency p50 ${fmt(l.p50, 1)} ms, p90 ${fmt(l.p90, 1)} ms, p99 ${fmt(l.p99, 1)} ms, max ${fmt(l.max, 1)} ms`) +
      (m.consumerCpuUs === undefined ? "" : `; consumer CPU ${fmt(m.consumerCpuUs, 1)} µs/event`) +
      (m.brokerCpuUs === undefined ? "" : `, broker CPU ${fmt(m.brokerCpuUs, 1)} µs/event`),
  );
}

async function main(): Promise<void> {
  const brokers = args.brokers.split(",").map((b) => b.trim()) as Broker[];
  for (const broker of brokers) {
    if (!(broker in BROKER_NAMES)) throw new Error(`unknown broker "${broker}" (nats, redis)`);
  }
  const bundle = await benchModel();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "mldeploy-bench-stream-"));
  console.log(
    `mldeploy stream benchmark: ${fmt(EVENTS)} ride events per throughput run, batches of up to ${fmt(BATCH_SIZE)} ` +
      `(max wait ${MAX_WAIT_MS} ms), latency runs at ${fmt(RATE)} events/s for ${WARMUP} + ${SECONDS} s ` +
      `(--max-wait-ms ${PACED_WAITS.join(", ")}), ` +
      `${os.cpus().length} cores, Node ${process.version}\n`,
  );
  const summary: string[] = [];
  try {
    for (const broker of brokers) {
      // Rounds alternate ceiling and model, so a slow patch of the shared machine does not
      // land on one of them only; the summary compares the best of each.
      const ceilings: Measured[] = [];
      const models: Measured[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        ceilings.push(await run({ broker, consumer: "ceiling", events: EVENTS }, bundle, dataDir));
        report(ceilings.at(-1)!);
        models.push(await run({ broker, consumer: "model", events: EVENTS }, bundle, dataDir));
        report(models.at(-1)!);
      }
      const alone = await run(
        { broker, consumer: "model", events: EVENTS, prefilled: true },
        bundle,
        dataDir,
      );
      report(alone);
      const paced: Measured[] = [];
      for (const maxWaitMs of PACED_WAITS) {
        const scenario: Scenario = {
          broker,
          consumer: "model",
          events: RATE * (WARMUP + SECONDS),
          warmupEvents: RATE * WARMUP,
          rate: RATE,
          maxWaitMs,
        };
        paced.push(await run(scenario, bundle, dataDir));
        report(paced.at(-1)!);
      }
      const best = (runs: Measured[]) =>
        runs.reduce((a, b) => (b.eventsPerSecond > a.eventsPerSecond ? b : a));
      const ceiling = best(ceilings);
      const model = best(models);
      const spread = (runs: Measured[]) => runs.map((m) => fmt(m.eventsPerSecond)).join(", ");
      summary.push(
        `${BROKER_NAMES[broker]}, model: ${fmt(model.eventsPerSecond)} events/s (runs: ${spread(models)}), ` +
          `${(model.eventsPerSecond / ceiling.eventsPerSecond).toFixed(2)} of the ceiling ` +
          `(${fmt(ceiling.eventsPerSecond)} events/s; runs: ${spread(ceilings)}); ` +
          `consumer alone: ${fmt(alone.eventsPerSecond)} events/s; ` +
          `at ${fmt(RATE)} events/s: ` +
          paced
            .map(
              (m) =>
                `p50 ${fmt(m.latencyMs.p50, 1)} ms, p99 ${fmt(m.latencyMs.p99, 1)} ms ` +
                `(--max-wait-ms ${m.scenario.maxWaitMs})`,
            )
            .join("; "),
      );
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
  console.log();
  for (const line of summary) console.log(line);
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    for (const child of children) child.kill("SIGKILL");
    process.exit(130);
  });
}

main().catch((error: unknown) => {
  console.error(error);
  for (const child of children) child.kill("SIGKILL");
  process.exit(1);
});
