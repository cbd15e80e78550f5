import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { beforeAll, describe, expect, it } from "vitest";
import { CLI } from "../helpers/cli.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { startServeProcess } from "../helpers/serve-process.js";

/**
 * SIGTERM while big bodies are in flight on keep-alive connections: every request whose
 * headers reached the server before the signal gets a complete answer, on real sockets.
 */
const SOCKETS = 24;
const BODY_BYTES = 6 * 1024 * 1024;

let bundle: string;
beforeAll(async () => {
  bundle = await rideBundlePath();
});

/** A raw HTTP/1.1 keep-alive connection that reads complete answers (Content-Length framed). */
class Connection {
  private socket: Socket;
  private buffer = Buffer.alloc(0);
  private waiting: Array<(answer: string | Error) => void> = [];
  closed = false;
  error: Error | undefined;

  constructor(port: number) {
    this.socket = connect(port, "127.0.0.1");
    this.socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.parse();
    });
    this.socket.on("error", (error) => (this.error = error));
    this.socket.on("close", () => {
      this.closed = true;
      for (const waiter of this.waiting.splice(0))
        waiter(this.error ?? new Error("closed before a complete answer"));
    });
  }

  private parse(): void {
    const end = this.buffer.indexOf("\r\n\r\n");
    if (end < 0) return;
    const head = this.buffer.subarray(0, end).toString();
    const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buffer.length < end + 4 + length) return;
    const answer = this.buffer.subarray(0, end + 4 + length).toString();
    this.buffer = this.buffer.subarray(end + 4 + length);
    this.waiting.shift()?.(answer);
    this.parse();
  }

  answer(): Promise<string> {
    return new Promise((resolve, reject) => {
      if (this.closed) reject(this.error ?? new Error("closed"));
      this.waiting.push((answer) => (answer instanceof Error ? reject(answer) : resolve(answer)));
    });
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(data, (error) => (error ? reject(error) : resolve())),
    );
  }

  destroy(): void {
    this.socket.destroy();
  }
}

const RIDE = '{"PULocationID": 10, "DOLocationID": 50, "trip_distance": 40}';
const head = (bytes: number) =>
  `POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${bytes}\r\n\r\n`;

describe.each([1, 2])("SIGTERM with %i worker(s)", (workers) => {
  it("answers every request whose headers arrived, also with 6 MB bodies still uploading on keep-alive sockets", async () => {
    const server = await startServeProcess([
      bundle,
      "--port",
      "0",
      "--workers",
      String(workers),
      "--body-limit-bytes",
      String(BODY_BYTES * 2),
    ]);
    const port = Number(new URL(server.url).port);
    const connections = Array.from({ length: SOCKETS }, () => new Connection(port));
    const idle = Array.from({ length: 8 }, () => new Connection(port));
    try {
      // Each connection is kept alive by a first request.
      for (const connection of [...connections, ...idle]) {
        const first = connection.answer();
        await connection.write(head(RIDE.length) + RIDE);
        expect(await first).toMatch(/^HTTP\/1\.1 200 /);
      }
      // The big request: headers and the first megabyte now, the rest after the signal.
      const body = Buffer.from(RIDE + " ".repeat(BODY_BYTES - RIDE.length));
      const answers = connections.map((connection) => connection.answer());
      // Awaited below; a rejection before then must not count as unhandled.
      for (const answer of answers) answer.catch(() => undefined);
      await Promise.all(
        connections.map((connection) =>
          connection.write(head(body.length) + body.subarray(0, 1024 * 1024).toString()),
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
      server.kill("SIGTERM");
      await new Promise((resolve) => setTimeout(resolve, 300));
      const sent = connections.map(async (connection) => {
        for (let at = 1024 * 1024; at < body.length; at += 512 * 1024) {
          await connection.write(body.subarray(at, at + 512 * 1024));
        }
      });
      await Promise.allSettled(sent);
      const settled = await Promise.allSettled(answers);
      const outcomes = settled.map((s) =>
        s.status === "fulfilled" ? s.value.split("\r\n")[0] : String(s.reason),
      );
      expect(outcomes).toEqual(connections.map(() => "HTTP/1.1 200 OK"));
      for (const s of settled)
        if (s.status === "fulfilled") expect(s.value.toLowerCase()).toContain("connection: close");
      expect(await server.exited).toBe(0);
      // Idle keep-alive connections were closed, not left to their timeout.
      expect(idle.every((connection) => connection.closed)).toBe(true);
    } finally {
      for (const connection of [...connections, ...idle]) connection.destroy();
      server.kill("SIGKILL");
    }
  });
});

it("a request sent during shutdown on a kept-alive connection gets a 503 after its 6 MB body, not a reset", async () => {
  // A long micro-batch window keeps one request in flight, so the server is still draining.
  const server = await startServeProcess([
    bundle,
    "--port",
    "0",
    "--workers",
    "1",
    "--max-batch-delay-ms",
    "1000",
    "--body-limit-bytes",
    String(BODY_BYTES * 2),
  ]);
  const port = Number(new URL(server.url).port);
  const busy = new Connection(port);
  const kept = new Connection(port);
  try {
    const first = kept.answer();
    await kept.write(head(RIDE.length) + RIDE);
    expect(await first).toMatch(/^HTTP\/1\.1 200 /);
    const inFlight = busy.answer();
    await busy.write(head(RIDE.length) + RIDE);
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.kill("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The client could not know: its connection was idle and open when it sent this.
    const late = kept.answer();
    const body = Buffer.from(RIDE + " ".repeat(BODY_BYTES - RIDE.length));
    await kept.write(Buffer.concat([Buffer.from(head(body.length)), body])).catch(() => undefined);
    const answer = await late.catch((error: unknown) => String(error));
    expect(answer).toMatch(/^HTTP\/1\.1 503 /);
    expect(answer.toLowerCase()).toContain("connection: close");
    expect(await inFlight).toMatch(/^HTTP\/1\.1 200 /);
    expect(await server.exited).toBe(0);
  } finally {
    busy.destroy();
    kept.destroy();
    server.kill("SIGKILL");
  }
});

/** The pids of a process's children (the cluster's workers), from /proc. */
function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8")
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

it("Ctrl-C while the workers are starting (SIGINT to the process group) stops quietly, exit 0, no stack trace", async () => {
  const child = spawn(
    process.execPath,
    [CLI, "serve", bundle, "--workers", "2", "--port", "0", "--log-format", "json"],
    // Its own process group, as a terminal's foreground job: the signal reaches every worker.
    { detached: true, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  // As soon as the workers exist, before they have loaded their modules and the model.
  const deadline = Date.now() + 30_000;
  while (childPids(child.pid!).length < 2) {
    if (Date.now() > deadline) throw new Error(`no workers were forked: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  process.kill(-child.pid!, "SIGINT");
  const code = await exited;
  expect(output).not.toContain("unexpected error");
  expect(output).not.toMatch(/\n\s+at /);
  expect(code).toBe(0);
}, 60_000);
