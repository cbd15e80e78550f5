/**
 * `node dist/bench/clients.js <spec JSON>` (forked by runClientProcesses in load.ts): closed-loop
 * HTTP/1.1 clients on raw sockets, each with one request at a time on its own keep-alive
 * connection. A 503 is retried after its Retry-After, jittered by ±50 % (as clients and load
 * balancers do; without the jitter the clients turned away together come back together), or
 * at once with `retry: "immediate"` (as autocannon does).
 *
 * Raw sockets rather than node:http: 2,560 node:http clients in one process saturate its core
 * at ~12,800 req/s and then time their own event-loop backlog, not the server. Here a request
 * is one prebuilt buffer written and a response is found by its Content-Length.
 *
 * Runs `warmupSeconds`, posts {phase: "measuring"}, runs `durationSeconds`, waits up to
 * `graceSeconds` for the requests still out, and posts a ClientsReport.
 */
import net from "node:net";

export interface ClientsProcessSpec {
  host: string;
  port: number;
  path: string;
  body: string;
  contentType: string;
  clients: number;
  warmupSeconds: number;
  durationSeconds: number;
  retry: "honour" | "immediate";
  graceSeconds?: number;
}

export interface ClientsReport {
  /** Latency in ms of each 2xx answer to a request sent while measuring. */
  accepted: number[];
  /** The same for the 503s. */
  rejectedLatencies: number[];
  other: number;
  errors: number;
  /** Requests still unanswered when the grace period ended. */
  unanswered: number;
  seconds: number;
}

const HEADER_END = Buffer.from("\r\n\r\n");

async function run(spec: ClientsProcessSpec, send: (message: unknown) => void): Promise<void> {
  const body = Buffer.from(spec.body);
  const request = Buffer.concat([
    Buffer.from(
      `POST ${spec.path} HTTP/1.1\r\nHost: ${spec.host}:${spec.port}\r\n` +
        `Content-Type: ${spec.contentType}\r\nContent-Length: ${body.length}\r\n\r\n`,
    ),
    body,
  ]);
  const report: ClientsReport = {
    accepted: [],
    rejectedLatencies: [],
    other: 0,
    errors: 0,
    unanswered: 0,
    seconds: spec.durationSeconds,
  };
  // Set once every connection is open (below).
  let start = Infinity;
  let measureFrom = Infinity;
  let end = Infinity;
  let outstanding = 0;
  let finished = false;

  const client = () => {
    let socket: net.Socket | undefined;
    let pending: Buffer | undefined;
    let sentAt = 0;
    let busy = false;

    const connect = (): Promise<void> => {
      const fresh = net.connect({ host: spec.host, port: spec.port, noDelay: true });
      socket = fresh;
      pending = undefined;
      fresh.on("data", (chunk: Buffer) => {
        pending = pending ? Buffer.concat([pending, chunk]) : chunk;
        parse();
      });
      fresh.on("error", () => undefined);
      fresh.on("close", () => {
        if (socket !== fresh) return;
        socket = undefined;
        if (busy) done(0, undefined, true);
      });
      return new Promise((resolve) => {
        fresh.once("connect", resolve);
        fresh.once("close", resolve);
      });
    };

    const sendOne = () => {
      if (finished || performance.now() >= end) return;
      if (!socket) void connect();
      busy = true;
      outstanding++;
      sentAt = performance.now();
      socket!.write(request);
    };

    const parse = () => {
      if (!pending) return;
      const headerEnd = pending.indexOf(HEADER_END);
      if (headerEnd < 0) return;
      const head = pending.toString("latin1", 0, headerEnd).toLowerCase();
      const length = /\r\ncontent-length: *(\d+)/.exec(head);
      if (!length) {
        // Every answer of the service and the ceiling has a Content-Length.
        socket?.destroy();
        return;
      }
      const total = headerEnd + 4 + Number(length[1]);
      if (pending.length < total) return;
      pending = pending.length > total ? pending.subarray(total) : undefined;
      const status = Number(head.slice(9, 12));
      const retryAfter = /\r\nretry-after: *(\d+)/.exec(head);
      if (/\r\nconnection: *close/.test(head)) {
        const closing = socket;
        socket = undefined;
        closing?.end();
      }
      done(status, retryAfter ? Number(retryAfter[1]) : undefined, false);
    };

    const done = (status: number, retryAfter: number | undefined, failed: boolean) => {
      busy = false;
      outstanding--;
      const ms = performance.now() - sentAt;
      const measured = sentAt >= measureFrom && sentAt < end;
      if (measured) {
        if (failed) report.errors++;
        else if (status >= 200 && status < 300) report.accepted.push(ms);
        else if (status === 503) report.rejectedLatencies.push(ms);
        else report.other++;
      }
      if (finished && outstanding === 0) finish();
      if (status === 503 && spec.retry === "honour") {
        const wait = (retryAfter ?? 1) * 1000 * (0.5 + Math.random());
        setTimeout(sendOne, wait);
      } else if (failed) setTimeout(sendOne, 100);
      else sendOne();
    };

    return {
      sendOne,
      connect,
      close: () => socket?.destroy(),
    };
  };

  const clients = Array.from({ length: spec.clients }, client);
  // Every connection is open before the first request: 2,560 connects at one instant overflow
  // the server's accept queue, and a dropped handshake is retried after 1, 3, 7… s, which
  // would be measured as requests left unanswered, not as the server's latency.
  for (let i = 0; i < clients.length; i += 64) {
    await Promise.all(clients.slice(i, i + 64).map((each) => each.connect()));
  }
  start = performance.now();
  measureFrom = start + spec.warmupSeconds * 1000;
  end = measureFrom + spec.durationSeconds * 1000;
  // Spread over the first 100 ms, so that the warm-up does not start with one burst.
  clients.forEach((each, i) => setTimeout(each.sendOne, (i / spec.clients) * 100));
  send({ phase: "started" });
  setTimeout(() => send({ phase: "measuring" }), measureFrom - start);

  let finishedOnce = false;
  const finish = () => {
    if (finishedOnce) return;
    finishedOnce = true;
    report.unanswered = outstanding;
    for (const each of clients) each.close();
    send({ phase: "done", report });
  };
  setTimeout(() => {
    finished = true;
    if (outstanding === 0) finish();
    else setTimeout(finish, (spec.graceSeconds ?? 5) * 1000);
  }, end - start);
}

if (process.send) {
  const spec = JSON.parse(process.argv[2] ?? "{}") as ClientsProcessSpec;
  void run(spec, (message) => {
    process.send!(message, undefined, undefined, () => {
      if ((message as { phase: string }).phase === "done") process.exit(0);
    });
  });
}
