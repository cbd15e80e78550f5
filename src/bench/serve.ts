/**
 * `npm run bench:serve [-- --model <bundle>] [--duration 10] [--connections 32] [--pipelining 1]
 *  [--workers 1] [--rows 1000] [--delays 0,0.5,1,2] [--rounds 3] [--overload 10] [--only <text>]`
 * (`--only overload` runs the ceiling and the scenarios whose name holds the text)
 *
 * Measures `mldeploy serve` against a bare node:http server with the same process count that
 * only parses the JSON body and answers a constant (the ceiling for Node on this machine), with
 * identical autocannon settings, one server at a time. The load generator runs in this process,
 * so on a small machine it takes one core: keep workers + 1 <= cores for a fair reading.
 *
 * Overload: `--overload 10` runs 10x maxConcurrentRequests clients per server process, each
 * with one request at a time that, answered 503, waits what Retry-After says (as clients and
 * load balancers do; autocannon would resend at once), with the limit on (the default) and
 * off, and reports the p99 of the ACCEPTED requests (2xx) apart from the 503s.
 */
import os from "node:os";
import { parseArgs } from "node:util";
import { serveOptionsSchema } from "../serve/options.js";
import { runClients, runLoad, type LoadResult, type LoadSpec } from "./load.js";
import { benchModel } from "./model.js";
import { startCeiling, startService, type ServerProcess } from "./processes.js";

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
};

const RIDE = JSON.stringify({ PULocationID: 10, DOLocationID: 50, trip_distance: 40 });

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
  /** Instead of autocannon: this many clients that honour Retry-After (see runClients). */
  clients?: number;
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
    const clients = { ...spec, clients: scenario.clients };
    if (settings.warmupSeconds > 0) await runClients(clients);
    const result = await runClients({ ...clients, durationSeconds: settings.durationSeconds });
    return { ...result, serverAcceptedP99: await serverP99(server.url, scenario.path) };
  }
  // The warm-up lets V8 optimise the hot path and onnxruntime settle before the clock runs.
  if (settings.warmupSeconds > 0) await runLoad(spec);
  return runLoad({ ...spec, durationSeconds: settings.durationSeconds });
}

/**
 * p99 of the 2xx answers as the server timed them (from receiving the request to answering),
 * read from its latency histogram: the upper bound of the bucket holding the 99th percentile.
 * Apart from the client's view, which also holds the load generator's own delays.
 */
async function serverP99(url: string, route: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const buckets: Array<[number, number]> = [];
  const pattern = new RegExp(
    `^mldeploy_http_request_duration_seconds_bucket\\{(?=[^}]*route="${route}")(?=[^}]*status_code="2\\d\\d")[^}]*le="([^"]+)"[^}]*\\} (\\S+)$`,
  );
  for (const line of text.split("\n")) {
    const match = pattern.exec(line);
    if (match)
      buckets.push([match[1] === "+Inf" ? Infinity : Number(match[1]) * 1000, Number(match[2])]);
  }
  const total = buckets.find(([le]) => le === Infinity)?.[1] ?? 0;
  return buckets.find(([, count]) => count >= total * 0.99)?.[0] ?? NaN;
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
  };
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });
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
    "503/s",
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
      fmt(result.rejectedPerSecond),
      ceiling ? fmt(result.requestsPerSecond / ceiling.requestsPerSecond, 2) : "",
      runs.map((r) => fmt(r.requestsPerSecond)).join(" / "),
      // 503s of the overload scenarios are the limit working, not errors.
      String(result.errors + result.non2xx - result.rejected),
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
      `${workers} server process(es), autocannon in 1 process, ${settings.connections} connections, ` +
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
  const scenarios: Scenario[] = [
    { name: CEILING, start: ceiling, path: "/predict", body: RIDE, rowsPerRequest: 1 },
    {
      name: `/predict single ride, defaults (delay ${defaults.maxBatchDelayMs} ms)`,
      start: service({}),
      path: "/predict",
      body: RIDE,
      rowsPerRequest: 1,
      ceiling: CEILING,
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
  ];
  const OVERLOAD = "overload: limit on (maxConcurrentRequests";
  if (settings.overload > 0) {
    const limit = defaults.maxConcurrentRequests;
    const load = { clients: limit * workers * settings.overload };
    const outstanding = `${fmt(load.clients)} clients honouring Retry-After`;
    scenarios.push(
      {
        name: `${OVERLOAD} ${limit}), ${outstanding}`,
        start: service({}),
        path: "/predict",
        body: RIDE,
        rowsPerRequest: 1,
        ceiling: CEILING,
        ...load,
      },
      {
        name: `overload: no limit (maxConcurrentRequests 0), ${outstanding}`,
        start: service({ maxConcurrentRequests: 0 }),
        path: "/predict",
        body: RIDE,
        rowsPerRequest: 1,
        ceiling: CEILING,
        ...load,
      },
    );
  }

  if (args.only !== undefined) {
    const only = args.only;
    // The ceiling stays: every ratio is to it.
    const kept = scenarios.filter((each, i) => i === 0 || each.name.includes(only));
    scenarios.splice(0, scenarios.length, ...kept);
  }

  // Rounds are interleaved so that a slow spell of a shared machine hits every scenario alike.
  const measured: Measured[] = scenarios.map((scenario) => ({ scenario, runs: [] }));
  for (let round = 1; round <= settings.rounds; round++) {
    for (const entry of measured) {
      const server = await entry.scenario.start();
      try {
        const result = await measure(server, entry.scenario);
        entry.runs.push(result);
        console.log(
          `round ${round}: ${entry.scenario.name}: ${fmt(result.requestsPerSecond)} req/s, p99 ${result.p99} ms, ` +
            `p99 accepted ${fmt(result.acceptedP99, 1)} ms` +
            (result.serverAcceptedP99 !== undefined
              ? ` (server-side <= ${fmt(result.serverAcceptedP99, 1)} ms)`
              : "") +
            `, ${fmt(result.rejectedPerSecond)} 503/s, ${result.errors} errors`,
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
  const overloaded = find((scenario) => scenario.name.startsWith(OVERLOAD));
  const targets = [
    predict &&
      `/predict >= 0.70 of ceiling: ${fmt(predict.requestsPerSecond / ceilingRps, 2)}; p99 < 10 ms: ${fmt(predict.p99)} ms`,
    batched && `batched >= 500,000 rows/s: ${fmt(batched.requestsPerSecond * settings.rows)}`,
    overloaded &&
      `at ${settings.overload}x the concurrency limit, p99 of accepted requests < 50 ms: ` +
        `${fmt(overloaded.acceptedP99, 1)} ms (server-side <= ${fmt(overloaded.serverAcceptedP99 ?? NaN, 1)} ms), ` +
        `${fmt(overloaded.requestsPerSecond / ceilingRps, 2)} of the ceiling accepted`,
  ];
  console.log(`\ntargets: ${targets.filter(Boolean).join("; ")}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
