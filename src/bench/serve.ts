/**
 * `npm run bench:serve [-- --model <bundle>] [--duration 10] [--connections 32] [--pipelining 1]
 *  [--workers 1] [--rows 1000] [--delays 0,0.5,1,2]`
 *
 * Measures `mldeploy serve` against a bare node:http server with the same process count that
 * only parses the JSON body and answers a constant (the ceiling for Node on this machine), with
 * identical autocannon settings, one server at a time. The load generator runs in this process,
 * so on a small machine it takes one core: keep workers + 1 <= cores for a fair reading.
 */
import os from "node:os";
import { parseArgs } from "node:util";
import { serveOptionsSchema } from "../serve/options.js";
import { runLoad, type LoadResult, type LoadSpec } from "./load.js";
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
};

const RIDE = JSON.stringify({ PULocationID: 10, DOLocationID: 50, trip_distance: 40 });

/** Rides spread over many zone pairs so the batched run exercises the category lookup. */
function batchBody(rows: number): string {
  const data: number[][] = [];
  let seed = 42;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < rows; i++) {
    data.push([1 + Math.floor(next() * 265), 1 + Math.floor(next() * 265), Math.round(next() * 2000) / 100]);
  }
  return JSON.stringify({ dataframe_split: { columns: ["PULocationID", "DOLocationID", "trip_distance"], data } });
}

interface Row {
  name: string;
  result: LoadResult;
  rowsPerRequest: number;
  ceiling?: LoadResult;
}

async function measure(server: ServerProcess, path: string, body: string): Promise<LoadResult> {
  const spec: LoadSpec = {
    url: server.url + path,
    body,
    contentType: "application/json",
    connections: settings.connections,
    pipelining: settings.pipelining,
    durationSeconds: settings.warmupSeconds,
  };
  // The warm-up lets V8 optimise the hot path and onnxruntime settle before the clock runs.
  if (settings.warmupSeconds > 0) await runLoad(spec);
  return runLoad({ ...spec, durationSeconds: settings.durationSeconds });
}

async function withServer<T>(start: Promise<ServerProcess>, use: (server: ServerProcess) => Promise<T>): Promise<T> {
  const server = await start;
  try {
    return await use(server);
  } finally {
    await server.stop();
  }
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function printTable(rows: Row[]): void {
  const header = ["scenario", "req/s", "rows/s", "p50 ms", "p99 ms", "vs ceiling", "errors"];
  const lines = rows.map((row) => [
    row.name,
    fmt(row.result.requestsPerSecond),
    fmt(row.result.requestsPerSecond * row.rowsPerRequest),
    fmt(row.result.p50),
    fmt(row.result.p99),
    row.ceiling ? fmt(row.result.requestsPerSecond / row.ceiling.requestsPerSecond, 2) : "",
    String(row.result.errors + row.result.non2xx),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const render = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
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
      `pipelining ${settings.pipelining}, ${settings.durationSeconds} s per run (+${settings.warmupSeconds} s warm-up)`,
  );
  console.log(`model: ${model}; defaults maxBatchSize=${defaults.maxBatchSize}, maxBatchDelayMs=${defaults.maxBatchDelayMs}\n`);

  const batch = batchBody(settings.rows);
  const { single: ceiling, batched: ceilingBatched } = await withServer(startCeiling(port, workers), async (server) => ({
    single: await measure(server, "/predict", RIDE),
    batched: await measure(server, "/invocations", batch),
  }));

  const rows: Row[] = [
    { name: "ceiling: node:http, JSON.parse, constant answer", result: ceiling, rowsPerRequest: 1 },
  ];
  const service = (options: Record<string, unknown>) => startService({ model, workers, ...options }, port + 1);

  rows.push(
    await withServer(service({}), async (server) => ({
      name: `/predict single ride (defaults: delay ${defaults.maxBatchDelayMs} ms)`,
      result: await measure(server, "/predict", RIDE),
      rowsPerRequest: 1,
      ceiling,
    })),
  );
  for (const delay of settings.delays) {
    rows.push(
      await withServer(service({ maxBatchDelayMs: delay }), async (server) => ({
        name: `/predict single ride, micro-batching ${delay === 0 ? "off" : `delay ${delay} ms`}`,
        result: await measure(server, "/predict", RIDE),
        rowsPerRequest: 1,
        ceiling,
      })),
    );
  }
  rows.push({ name: `ceiling with the ${settings.rows}-row body`, result: ceilingBatched, rowsPerRequest: settings.rows });
  rows.push(
    await withServer(service({}), async (server) => ({
      name: `/invocations dataframe_split, ${settings.rows} rows`,
      result: await measure(server, "/invocations", batch),
      rowsPerRequest: settings.rows,
      ceiling: ceilingBatched,
    })),
  );

  console.log();
  printTable(rows);
  const predict = rows[1].result;
  const best = rows[rows.length - 1].result;
  console.log(
    `\ntargets: /predict >= 0.70 of ceiling: ${fmt(predict.requestsPerSecond / ceiling.requestsPerSecond, 2)}; ` +
      `p99 < 10 ms: ${fmt(predict.p99)} ms; batched >= 500,000 rows/s: ${fmt(best.requestsPerSecond * settings.rows)}`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
