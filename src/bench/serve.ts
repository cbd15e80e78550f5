/**
 * `npm run bench:serve [-- --model <bundle>] [--duration 10] [--connections 32] [--pipelining 1]
 *  [--workers 1] [--rows 1000] [--delays 0,0.5,1,2] [--rounds 3] [--overload 10]
 *  [--load-processes 1] [--limit <maxConcurrentRequests>] [--only <text>]`
 * (`--only overload` runs the ceiling and the scenarios whose name holds the text; several
 * texts comma-separated: `--only defaults,/invocations,gRPC` for the gRPC comparisons)
 *
 * Measures `mldeploy serve` against a bare node:http server with the same process count that
 * only parses the JSON body and answers a constant (the ceiling for Node on this machine), with
 * identical autocannon settings, one server at a time. The load generator runs in this process,
 * so on a small machine it takes one core: keep workers + 1 <= cores for a fair reading.
 *
 * Overload: `--overload 10` runs 10x maxConcurrentRequests closed-loop clients per server
 * process (one request at a time each, on raw sockets, in `--load-processes` processes of their
 * own: see clients.ts), with the limit on (clients honouring Retry-After with jitter, and clients
 * resending at once as autocannon does) and off, plus the limit's own number of clients as the
 * reference of what the service serves. It reports the p99 of the ACCEPTED requests (2xx),
 * client-side and server-side, apart from the 503s, and whether it is under 50 ms.
 *
 * Forest (`--only forest`): the MLflow variant's Pipeline(DictVectorizer, RandomForestRegressor)
 * served by `mldeploy serve <MLflow dir> --feature PU_DO=… --output duration`, and the same
 * pickle served by the system it replaces — the course's Flask app under gunicorn, 2 sync
 * workers — with the same body and autocannon settings. Both must first answer the same
 * durations for a few rides, or the benchmark fails. Needs Debian's python3-sklearn,
 * python3-flask and gunicorn; without them these scenarios are skipped and say why.
 *
 * One job over ~580 lines: one benchmark run, its scenarios (ceiling, micro-batching, overload,
 * the original service), their interleaved rounds and the table and targets they print.
 */
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { serveOptionsSchema } from "../serve/options.js";
import { runClientProcesses, runLoad, type LoadResult, type LoadSpec } from "./load.js";
import { benchModel } from "./model.js";
import { BENCH_ROOT, FOREST_FEATURES, FOREST_OUTPUT } from "./forest.js";
import {
  ORIGINAL_MODELS_ROOT,
  originalModels,
  originalServiceMissing,
  startOriginalService,
  type OriginalModels,
} from "./original-service.js";
import { startCeiling, startService, type ServerProcess } from "./processes.js";
import { serverCpuSeconds } from "./process-cpu.js";
import { BINARY, BINARY_MODEL, binaryScenario, binaryTarget } from "./serve-binary.js";
import { grpcScenarios, grpcTargets } from "./serve-grpc.js";

const { values: args } = parseArgs({
  options: {
    model: { type: "string" },
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "3" },
    connections: { type: "string", default: "32" },
    pipelining: { type: "string", default: "1" },
    workers: { type: "string", default: "1" },
    rows: { type: "string", default: "1000" },
    delays: { type: "string", default: "0,0.5,1,2" },
    port: { type: "string", default: "9711" },
    rounds: { type: "string", default: "3" },
    overload: { type: "string", default: "10" },
    "load-processes": { type: "string", default: "1" },
    limit: { type: "string" },
    only: { type: "string" },
  },
});

const settings = {
  durationSeconds: Number(args.duration),
  warmupSeconds: Number(args.warmup),
  connections: Number(args.connections),
  pipelining: Number(args.pipelining),
  workers: Number(args.workers),
  rows: Number(args.rows),
  delays: args.delays.split(",").map(Number),
  port: Number(args.port),
  rounds: Number(args.rounds),
  overload: Number(args.overload),
  loadProcesses: Number(args["load-processes"]),
};

const RIDE = JSON.stringify({ PULocationID: 10, DOLocationID: 50, trip_distance: 40 });

/** gunicorn workers of the original service, as the issue's comparison sets it. */
const ORIGINAL_WORKERS = 2;
const FOREST_PREFIX = "forest: ";
/** The working directory of `mldeploy serve` for the forest (its import cache goes there). */
const FOREST_SERVE_DIR = path.join(BENCH_ROOT, "serve-forest");
const FOREST_MLDEPLOY = `${FOREST_PREFIX}mldeploy serve <MLflow dir> --feature PU_DO=…, /predict one ride`;
const FOREST_ORIGINAL = `${FOREST_PREFIX}original Flask app, gunicorn ${ORIGINAL_WORKERS} sync workers, /predict one ride`;

/** The answer's duration to one POST /predict, or an error naming the server and the ride. */
async function predictDuration(url: string, ride: string): Promise<number> {
  const response = await fetch(`${url}/predict`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: ride,
  });
  const text = await response.text();
  const duration: unknown = response.ok
    ? (JSON.parse(text) as Record<string, unknown>)[FOREST_OUTPUT]
    : undefined;
  if (typeof duration !== "number") {
    throw new Error(`${url}/predict answered ${response.status} ${text.slice(0, 200)} to ${ride}`);
  }
  return duration;
}

/**
 * Before any figure: mldeploy's conversion of the forest and the original service must give the
 * same duration (within 1e-6 relative) for a few rides of the training set and the benchmark's
 * own, or comparing their speed means nothing.
 */
async function checkForestAnswers(
  models: OriginalModels,
  startOurs: () => Promise<ServerProcess>,
  startTheirs: () => Promise<ServerProcess>,
): Promise<void> {
  const columns = JSON.parse(await readFile(models.rides, "utf8")) as Record<string, number[]>;
  const count = columns.PULocationID.length;
  const rides = [RIDE];
  for (const index of [0, 1, 2, 101, 997, 5_003, 12_345, 33_333, count - 1]) {
    const i = Math.min(index, count - 1);
    rides.push(
      JSON.stringify({
        PULocationID: columns.PULocationID[i],
        DOLocationID: columns.DOLocationID[i],
        trip_distance: columns.trip_distance[i],
      }),
    );
  }
  const answers = async (start: () => Promise<ServerProcess>) => {
    const server = await start();
    try {
      const durations: number[] = [];
      for (const ride of rides) durations.push(await predictDuration(server.url, ride));
      return durations;
    } finally {
      await server.stop();
    }
  };
  const ours = await answers(startOurs);
  const theirs = await answers(startTheirs);
  let worst = 0;
  const wrong: string[] = [];
  rides.forEach((ride, i) => {
    const relative = Math.abs(ours[i] - theirs[i]) / Math.abs(theirs[i]);
    worst = Math.max(worst, relative);
    if (!(relative <= 1e-6)) wrong.push(`${ride}: mldeploy ${ours[i]}, Python ${theirs[i]}`);
  });
  if (wrong.length > 0) {
    throw new Error(
      `FOREST ANSWERS DIFFER: mldeploy and the original service disagree on ${wrong.length} of ${rides.length} rides ` +
        `(more than 1e-6 relative), so their speeds are not comparable:\n  ${wrong.join("\n  ")}`,
    );
  }
  console.log(
    `forest: mldeploy and the original service answer the same duration for ${rides.length} rides ` +
      `(largest relative difference ${worst.toExponential(1)})\n`,
  );
}

/** Rides spread over many zone pairs so the batched run exercises the category lookup. */
function batchBody(rows: number): string {
  const data: number[][] = [];
  let seed = 42;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < rows; i++) {
    data.push([
      1 + Math.floor(next() * 265),
      1 + Math.floor(next() * 265),
      Math.round(next() * 2000) / 100,
    ]);
  }
  return JSON.stringify({
    dataframe_split: { columns: ["PULocationID", "DOLocationID", "trip_distance"], data },
  });
}

interface Scenario {
  name: string;
  start: () => Promise<ServerProcess>;
  path: string;
  body: string;
  rowsPerRequest: number;
  /** Scenario whose req/s this one is compared with. */
  ceiling?: string;
  /** Instead of autocannon: this many closed-loop raw-socket clients (see clients.ts). */
  clients?: number;
  /** What those clients do with a 503: wait its Retry-After (jittered), or resend at once. */
  retry?: "honour" | "immediate";
  /** Instead of autocannon with `body`: a load of the scenario's own (e.g. a binary body). */
  load?: (spec: LoadSpec) => Promise<LoadResult>;
  /** Run once against the first server started, before any figure (answers must agree). */
  check?: (url: string) => Promise<void>;
  /** Instead of autocannon: a load generator of another protocol (gRPC: serve-grpc.ts). */
  serverLoad?: (server: ServerProcess, seconds: number) => Promise<LoadResult>;
}

interface Measured {
  scenario: Scenario;
  runs: LoadResult[];
}

async function measure(server: ServerProcess, scenario: Scenario): Promise<LoadResult> {
  const spec: LoadSpec = {
    url: server.url + scenario.path,
    body: scenario.body,
    contentType: "application/json",
    connections: settings.connections,
    pipelining: settings.pipelining,
    durationSeconds: settings.warmupSeconds,
  };
  if (scenario.clients !== undefined) {
    // Server-side figures count from the end of the warm-up, as the client-side ones do.
    let before: Bucket[] = [];
    const result = await runClientProcesses(
      {
        ...spec,
        body: scenario.body,
        clients: scenario.clients,
        processes: settings.loadProcesses,
        warmupSeconds: settings.warmupSeconds,
        durationSeconds: settings.durationSeconds,
        retry: scenario.retry ?? "honour",
      },
      async () => {
        before = await serverBuckets(server.url, scenario.path);
      },
    );
    const after = await serverBuckets(server.url, scenario.path);
    return { ...result, serverAcceptedP99: p99Of(after, before) };
  }
  const { serverLoad } = scenario;
  if (serverLoad) {
    if (settings.warmupSeconds > 0) await serverLoad(server, settings.warmupSeconds);
    return withServerCpu(server, () => serverLoad(server, settings.durationSeconds));
  }
  // The warm-up lets V8 optimise the hot path and onnxruntime settle before the clock runs.
  const load = scenario.load ?? runLoad;
  if (settings.warmupSeconds > 0) await load(spec);
  return withServerCpu(server, () => load({ ...spec, durationSeconds: settings.durationSeconds }));
}

/** The run's result with the server's CPU seconds per request it answered. */
async function withServerCpu(
  server: ServerProcess,
  run: () => Promise<LoadResult>,
): Promise<LoadResult> {
  const before = serverCpuSeconds(server.pid);
  const result = await run();
  const after = serverCpuSeconds(server.pid);
  const answered = result.requestsPerSecond * settings.durationSeconds;
  return before === undefined || after === undefined || answered <= 0
    ? result
    : { ...result, serverCpuPerRequest: (after - before) / answered };
}

type Bucket = [upperMs: number, count: number];

/**
 * The server's latency histogram of the 2xx answers on `route` (timed from receiving the
 * request to answering), as cumulative buckets: apart from the client's view, which also
 * holds the network and the load generator's own delays.
 */
async function serverBuckets(url: string, route: string): Promise<Bucket[]> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const buckets = new Map<number, number>();
  const pattern = new RegExp(
    `^mldeploy_http_request_duration_seconds_bucket\\{(?=[^}]*route="${route}")(?=[^}]*status_code="2\\d\\d")[^}]*le="([^"]+)"[^}]*\\} (\\S+)$`,
  );
  for (const line of text.split("\n")) {
    const match = pattern.exec(line);
    if (!match) continue;
    const le = match[1] === "+Inf" ? Infinity : Number(match[1]) * 1000;
    buckets.set(le, (buckets.get(le) ?? 0) + Number(match[2]));
  }
  return [...buckets].sort((a, b) => a[0] - b[0]);
}

/** p99 of the answers counted between two readings: the upper bound of its bucket. */
function p99Of(after: Bucket[], before: Bucket[]): number {
  const earlier = new Map(before);
  const counts = after.map(([le, count]): Bucket => [le, count - (earlier.get(le) ?? 0)]);
  const total = counts.find(([le]) => le === Infinity)?.[1] ?? 0;
  return counts.find(([, count]) => count >= total * 0.99)?.[0] ?? NaN;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function summary(runs: LoadResult[]): LoadResult {
  return {
    requestsPerSecond: median(runs.map((r) => r.requestsPerSecond)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    non2xx: runs.reduce((n, r) => n + r.non2xx, 0),
    rejected: runs.reduce((n, r) => n + r.rejected, 0),
    rejectedPerSecond: median(runs.map((r) => r.rejectedPerSecond)),
    acceptedP99: median(runs.map((r) => r.acceptedP99)),
    serverAcceptedP99: median(runs.map((r) => r.serverAcceptedP99 ?? NaN)),
    serverCpuPerRequest: median(runs.map((r) => r.serverCpuPerRequest ?? NaN)),
    unanswered: runs.reduce((n, r) => n + (r.unanswered ?? 0), 0),
    errorKinds: runs.reduce<Record<string, number>>((kinds, r) => {
      for (const [kind, count] of Object.entries(r.errorKinds ?? {}))
        kinds[kind] = (kinds[kind] ?? 0) + count;
      return kinds;
    }, {}),
  };
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });
}

function errorKindsText(kinds: Record<string, number>): string {
  return Object.entries(kinds)
    .map(([kind, count]) => `${kind} ${fmt(count)}`)
    .join(", ");
}

function printTable(measured: Measured[]): void {
  const byName = new Map(measured.map((m) => [m.scenario.name, summary(m.runs)]));
  const header = [
    "scenario",
    "req/s",
    "rows/s",
    "p50 ms",
    "p99 ms",
    "p99 accepted ms",
    "server-side",
    "503/s",
    "server CPU µs/req",
    "vs ceiling",
    "req/s of each round",
    "errors",
  ];
  const lines = measured.map(({ scenario, runs }) => {
    const result = summary(runs);
    const ceiling = scenario.ceiling ? byName.get(scenario.ceiling) : undefined;
    return [
      scenario.name,
      fmt(result.requestsPerSecond),
      fmt(result.requestsPerSecond * scenario.rowsPerRequest),
      fmt(result.p50),
      fmt(result.p99),
      fmt(result.acceptedP99, 1),
      Number.isNaN(result.serverAcceptedP99) ? "" : `<= ${fmt(result.serverAcceptedP99 ?? NaN, 1)}`,
      fmt(result.rejectedPerSecond),
      Number.isNaN(result.serverCpuPerRequest ?? NaN)
        ? ""
        : fmt((result.serverCpuPerRequest ?? 0) * 1e6),
      ceiling ? fmt(result.requestsPerSecond / ceiling.requestsPerSecond, 2) : "",
      runs.map((r) => fmt(r.requestsPerSecond)).join(" / "),
      // 503s of the overload scenarios are the limit working, not errors.
      String(result.errors + result.non2xx - result.rejected + (result.unanswered ?? 0)),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const render = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  console.log(render(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const line of lines) console.log(render(line));
}

async function main(): Promise<void> {
  const model = args.model ?? (await benchModel());
  const defaults = serveOptionsSchema.parse({ model });
  const { workers, port } = settings;
  console.log(
    `mldeploy serve benchmark: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), Node ${process.version}, ` +
      `${workers} server process(es), autocannon in 1 process (overload: raw clients in ${settings.loadProcesses}), ${settings.connections} connections, ` +
      `pipelining ${settings.pipelining}, ${settings.durationSeconds} s per run (+${settings.warmupSeconds} s warm-up), ` +
      `${settings.rounds} interleaved round(s), medians shown`,
  );
  console.log(
    `model: ${model}; defaults maxBatchSize=${defaults.maxBatchSize}, maxBatchDelayMs=${defaults.maxBatchDelayMs}\n`,
  );

  const batch = batchBody(settings.rows);
  const service = (options: Record<string, unknown>) => () =>
    startService({ model, workers, ...options }, port + 1);
  const ceiling = () => startCeiling(port, workers);
  const CEILING = "ceiling: node:http, JSON.parse, constant answer";
  const CEILING_BATCH = `ceiling with the ${settings.rows}-row body`;
  const DEFAULTS = `/predict single ride, defaults (delay ${defaults.maxBatchDelayMs} ms)`;
  // Written to a temp directory, removed at the end (a run logs millions of predictions).
  const logDir = await mkdtemp(path.join(os.tmpdir(), "mldeploy-bench-predlog-"));
  const logOn = { logPredictions: true, logPredictionsDir: logDir };
  const scenarios: Scenario[] = [
    { name: CEILING, start: ceiling, path: "/predict", body: RIDE, rowsPerRequest: 1 },
    {
      name: DEFAULTS,
      start: service({}),
      path: "/predict",
      body: RIDE,
      rowsPerRequest: 1,
      ceiling: CEILING,
    },
    // The prediction log's cost (issue 21: at most 10% of the req/s above, at its defaults):
    // the same load, the log on with its default sample, flush and queue settings.
    {
      name: `${DEFAULTS}, prediction log on`,
      start: service(logOn),
      path: "/predict",
      body: RIDE,
      rowsPerRequest: 1,
      ceiling: DEFAULTS,
    },
    ...settings.delays.map((delay): Scenario => ({
      name: `/predict single ride, micro-batching ${delay === 0 ? "off" : `delay ${delay} ms`}`,
      start: service({ maxBatchDelayMs: delay }),
      path: "/predict",
      body: RIDE,
      rowsPerRequest: 1,
      ceiling: CEILING,
    })),
    {
      name: CEILING_BATCH,
      start: ceiling,
      path: "/invocations",
      body: batch,
      rowsPerRequest: settings.rows,
    },
    {
      name: `/invocations dataframe_split, ${settings.rows} rows`,
      start: service({}),
      path: "/invocations",
      body: batch,
      rowsPerRequest: settings.rows,
      ceiling: CEILING_BATCH,
    },
    {
      name: `/invocations dataframe_split, ${settings.rows} rows, prediction log on`,
      start: service(logOn),
      path: "/invocations",
      body: batch,
      rowsPerRequest: settings.rows,
      ceiling: `/invocations dataframe_split, ${settings.rows} rows`,
    },
    binaryScenario(batch, service({ modelName: BINARY_MODEL }), fmt),
    ...grpcScenarios({
      model,
      workers,
      port: port + 1,
      rows: settings.rows,
      connections: settings.connections,
      startService,
      ceiling: CEILING,
      ceilingBatch: CEILING_BATCH,
    }),
  ];
  // The forest's models are trained (by Python, once) only if a forest scenario is kept.
  let forest: OriginalModels | undefined;
  const forestModels = (): OriginalModels => {
    if (!forest) throw new Error("the original service's models are not trained yet");
    return forest;
  };
  const forestService = () =>
    startService(
      {
        model: forestModels().forestDir,
        feature: FOREST_FEATURES,
        output: FOREST_OUTPUT,
        workers,
      },
      port + 1,
      // Its import cache (./mldeploy-data/import-cache) goes there, not into the checkout.
      FOREST_SERVE_DIR,
    );
  const originalService = () =>
    startOriginalService(forestModels().forestPickle, port + 2, ORIGINAL_WORKERS);
  scenarios.push(
    {
      name: FOREST_MLDEPLOY,
      start: forestService,
      path: "/predict",
      body: RIDE,
      rowsPerRequest: 1,
      ceiling: CEILING,
    },
    {
      name: FOREST_ORIGINAL,
      start: originalService,
      path: "/predict",
      body: RIDE,
      rowsPerRequest: 1,
      ceiling: CEILING,
    },
  );
  const OVERLOAD = "overload: limit on (maxConcurrentRequests";
  const AT_CAPACITY = "overload: at capacity";
  if (settings.overload > 0) {
    const limit = args.limit !== undefined ? Number(args.limit) : defaults.maxConcurrentRequests;
    const capacity = limit * workers;
    const clients = capacity * settings.overload;
    const limited = { maxConcurrentRequests: limit };
    const overload = (name: string, options: Record<string, unknown>, more: Partial<Scenario>) => ({
      name,
      start: service(options),
      path: "/predict",
      body: RIDE,
      rowsPerRequest: 1,
      ceiling: CEILING,
      ...more,
    });
    scenarios.push(
      // The reference: as many clients as the limit admits, none turned away.
      overload(
        `${AT_CAPACITY}: ${fmt(capacity)} clients, limit ${limit}`,
        {},
        { clients: capacity },
      ),
      overload(`${OVERLOAD} ${limit}), ${fmt(clients)} clients honouring Retry-After`, limited, {
        clients,
        retry: "honour",
      }),
      overload(
        `overload: limit on (maxConcurrentRequests ${limit}), ${fmt(clients)} clients resending at once`,
        limited,
        { clients, retry: "immediate" },
      ),
      overload(
        `overload: no limit (maxConcurrentRequests 0), ${fmt(clients)} clients`,
        { maxConcurrentRequests: 0 },
        { clients, retry: "honour" },
      ),
    );
  }

  if (args.only !== undefined) {
    // Comma-separated: the scenarios whose name holds any of the texts.
    const only = args.only.split(",");
    // The ceiling stays: every ratio is to it.
    const kept = scenarios.filter(
      (each, i) => i === 0 || only.some((text) => each.name.includes(text)),
    );
    scenarios.splice(0, scenarios.length, ...kept);
  }
  if (scenarios.some((scenario) => scenario.name.startsWith(FOREST_PREFIX))) {
    const missing = await originalServiceMissing();
    if (missing !== undefined) {
      console.log(`forest scenarios skipped: ${missing}\n`);
      const kept = scenarios.filter((scenario) => !scenario.name.startsWith(FOREST_PREFIX));
      scenarios.splice(0, scenarios.length, ...kept);
    } else {
      forest = await originalModels(ORIGINAL_MODELS_ROOT);
      // Converted afresh by the first start below, then cached for the rounds: an earlier
      // run's conversion may come from an older build of the converter.
      await rm(FOREST_SERVE_DIR, { recursive: true, force: true });
      await mkdir(FOREST_SERVE_DIR, { recursive: true });
      console.log(
        `forest: ${forest.forestDir} (Pipeline(DictVectorizer, RandomForestRegressor(max_depth=20, n_estimators=100, min_samples_leaf=10))), ` +
          `mldeploy with ${workers} server process(es), the original with gunicorn ${ORIGINAL_WORKERS} sync workers`,
      );
      await checkForestAnswers(forest, forestService, originalService);
    }
  }

  // Rounds are interleaved so that a slow spell of a shared machine hits every scenario alike.
  const measured: Measured[] = scenarios.map((scenario) => ({ scenario, runs: [] }));
  for (const { check, start } of scenarios) {
    if (!check) continue;
    const server = await start();
    try {
      await check(server.url);
    } finally {
      await server.stop();
    }
  }
  for (let round = 1; round <= settings.rounds; round++) {
    for (const entry of measured) {
      const server = await entry.scenario.start();
      try {
        const result = await measure(server, entry.scenario);
        entry.runs.push(result);
        console.log(
          `round ${round}: ${entry.scenario.name}: ${fmt(result.requestsPerSecond)} req/s, p99 ${fmt(result.p99, 1)} ms, ` +
            `p99 accepted ${fmt(result.acceptedP99, 1)} ms` +
            (result.serverAcceptedP99 !== undefined
              ? ` (server-side <= ${fmt(result.serverAcceptedP99, 1)} ms)`
              : "") +
            `, ${fmt(result.rejectedPerSecond)} 503/s, ${result.errors} errors` +
            (result.errorKinds ? ` (${errorKindsText(result.errorKinds)})` : "") +
            (result.unanswered ? `, ${result.unanswered} unanswered` : ""),
        );
      } finally {
        await server.stop();
      }
    }
  }

  console.log();
  printTable(measured);
  const ceilingRps = summary(measured[0].runs).requestsPerSecond;
  const find = (test: (scenario: Scenario) => boolean) => {
    const found = measured.find((m) => test(m.scenario));
    return found ? summary(found.runs) : undefined;
  };
  const predict = find((scenario) => scenario.name.startsWith("/predict single ride, defaults"));
  const batched = find((scenario) => scenario.path === "/invocations" && !!scenario.ceiling);
  const atCapacity = find((scenario) => scenario.name.startsWith(AT_CAPACITY));
  const overloadTarget = (label: string, result: LoadResult | undefined) => {
    if (!result) return undefined;
    const met = result.acceptedP99 < 50 && result.errors === 0 && !result.unanswered;
    // Closed loop: the attempts (answered or turned away) are what the clients could send.
    const attempts = `${fmt(result.requestsPerSecond + result.rejectedPerSecond)} attempts/s`;
    const served = atCapacity ? ` (at capacity: ${fmt(atCapacity.requestsPerSecond)} req/s)` : "";
    return (
      `${label}: p99 of accepted requests < 50 ms: ${fmt(result.acceptedP99, 1)} ms client-side ` +
      `(server-side <= ${fmt(result.serverAcceptedP99 ?? NaN, 1)} ms), ${met ? "MET" : "NOT MET"}; ` +
      `${fmt(result.requestsPerSecond)} req/s accepted (${fmt(result.requestsPerSecond / ceilingRps, 2)} of the ceiling), ` +
      `${fmt(result.rejectedPerSecond)} 503/s, ${attempts}${served}`
    );
  };
  const targets = [
    predict &&
      `/predict >= 0.70 of ceiling: ${fmt(predict.requestsPerSecond / ceilingRps, 2)}; p99 < 10 ms: ${fmt(predict.p99)} ms`,
    batched && `batched >= 500,000 rows/s: ${fmt(batched.requestsPerSecond * settings.rows)}`,
    overloadTarget(
      `at ${settings.overload}x the concurrency limit in clients honouring Retry-After`,
      find((scenario) => scenario.name.startsWith(OVERLOAD) && scenario.retry === "honour"),
    ),
    overloadTarget(
      `at ${settings.overload}x the concurrency limit in clients resending at once`,
      find((scenario) => scenario.name.startsWith(OVERLOAD) && scenario.retry === "immediate"),
    ),
  ];
  targets.push(
    ...grpcTargets(
      (test) => find((scenario) => test(scenario.name)),
      settings.rows,
      batched,
      predict,
    ),
  );
  const forestOurs = find((scenario) => scenario.name === FOREST_MLDEPLOY);
  const forestTheirs = find((scenario) => scenario.name === FOREST_ORIGINAL);
  if (forestOurs && forestTheirs) {
    const ratio = forestOurs.requestsPerSecond / forestTheirs.requestsPerSecond;
    const failed = (result: LoadResult) => result.errors + result.non2xx;
    const met = ratio >= 30 && forestOurs.p99 <= 10 && failed(forestOurs) === 0;
    targets.push(
      `forest pipeline: mldeploy ≥ 30× the original Flask+gunicorn service's req/s: ${fmt(ratio, 1)}× ` +
        `(${fmt(forestOurs.requestsPerSecond)} vs ${fmt(forestTheirs.requestsPerSecond)} req/s; ` +
        `errors: mldeploy ${failed(forestOurs)}, original ${failed(forestTheirs)}` +
        (Object.keys(forestTheirs.errorKinds ?? {}).length > 0
          ? ` (${errorKindsText(forestTheirs.errorKinds ?? {})}` +
            // Its answers carry "Connection: close"; autocannon's next request on it is reset.
            (forestTheirs.errorKinds?.ECONNRESET
              ? ": its sync workers close each connection after answering"
              : "") +
            ")"
          : "") +
        `); ` +
        `p99 ≤ 10 ms at ${settings.connections} connections: ${fmt(forestOurs.p99)} ms ` +
        `(original: ${fmt(forestTheirs.p99)} ms), ${met ? "MET" : "NOT MET"}`,
    );
  }
  const binary = find((scenario) => scenario.name.startsWith(BINARY));
  if (binary && batched) targets.push(binaryTarget(binary, batched, settings.rows, fmt));
  const logged = find((scenario) => scenario.name === `${DEFAULTS}, prediction log on`);
  const unlogged = find((scenario) => scenario.name === DEFAULTS);
  if (logged && unlogged) {
    const cost = 1 - logged.requestsPerSecond / unlogged.requestsPerSecond;
    targets.push(
      `prediction log costs <= 10% of /predict req/s at its defaults: ${fmt(cost * 100, 1)}% ` +
        `(${fmt(logged.requestsPerSecond)} vs ${fmt(unlogged.requestsPerSecond)} req/s), ${cost <= 0.1 ? "MET" : "NOT MET"}`,
    );
  }
  await rm(logDir, { recursive: true, force: true });
  console.log(`\ntargets:\n- ${targets.filter(Boolean).join("\n- ")}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
