/**
 * `node dist/bench/ceiling.js <port> <processes>`: the benchmark's reference server. Plain
 * node:http that reads and JSON-parses the body and answers a constant prediction — what any
 * Node service on this machine must at least spend per request. With more than one process it
 * shares the port through node:cluster exactly as `mldeploy serve` does.
 */
import cluster from "node:cluster";
import http from "node:http";

const port = Number(process.argv[2] ?? 9797);
const processes = Number(process.argv[3] ?? 1);
const answer = JSON.stringify({ duration: 12.5, model_version: "ceiling" });

function serve(): void {
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      if (chunks.length > 0) JSON.parse(Buffer.concat(chunks).toString("utf8"));
      response.writeHead(200, {
        "content-type": "application/json; charset=utf-8",
        "content-length": Buffer.byteLength(answer),
      });
      response.end(answer);
    });
  });
  server.keepAliveTimeout = 72_000;
  server.listen(port, "127.0.0.1");
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
}

if (processes > 1 && cluster.isPrimary) {
  for (let i = 0; i < processes; i++) cluster.fork();
  process.on("SIGTERM", () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGTERM");
    cluster.on("exit", () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    });
  });
} else {
  serve();
}
