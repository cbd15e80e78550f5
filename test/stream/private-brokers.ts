import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import net from "node:net";
import { afterAll } from "vitest";
import { tempDir } from "../helpers/temp.js";
import { mockClusterAvailable, startMockCluster } from "./kafka/mock-cluster.js";

/**
 * Private broker servers on free ports with their own store directories, so a test can stop
 * and restart them without disturbing the shared servers other tests (and developers) use.
 * Every server started here is stopped after the file's tests.
 */

export const NATS_BINARY = "/usr/sbin/nats-server";
export const REDIS_BINARY = "/usr/bin/redis-server";
export const haveNats = existsSync(NATS_BINARY);
export const haveRedis = existsSync(REDIS_BINARY);
export const haveKafkaMock = await mockClusterAvailable();

export interface PrivateBroker {
  url(stream: string): string;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
afterAll(async () => {
  for (const child of [...running]) await stopProcess(child);
});

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.end();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on ${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  running.delete(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

async function privateBroker(
  start: (port: number, dir: string) => ChildProcess,
  url: (port: number, stream: string) => string,
): Promise<PrivateBroker> {
  const port = await freePort();
  const dir = tempDir("mldeploy-broker-");
  const launch = async () => {
    const child = start(port, dir);
    running.add(child);
    await waitForPort(port);
    return child;
  };
  let child = await launch();
  return {
    url: (stream) => url(port, stream),
    async restart() {
      await stopProcess(child);
      child = await launch();
    },
    stop: () => stopProcess(child),
  };
}

/** nats-server with JetStream, its store in a temp dir (kept across restarts). */
export function privateNats(): Promise<PrivateBroker> {
  return privateBroker(
    (port, dir) =>
      spawn(NATS_BINARY, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", dir], {
        stdio: "ignore",
      }),
    (port, stream) => `nats://127.0.0.1:${port}/${stream}`,
  );
}

/** redis-server with an append-only file in a temp dir, so a restart keeps the streams. */
export function privateRedis(): Promise<PrivateBroker> {
  return privateBroker(
    (port, dir) =>
      spawn(
        REDIS_BINARY,
        ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes"].concat(
          ["--dir", dir],
        ),
        { stdio: "ignore" },
      ),
    (port, stream) => `redis://127.0.0.1:${port}/${stream}`,
  );
}

/**
 * kinesalite (devDependency) keeping its streams in LevelDB files in a temp dir (`--path`),
 * so a restart keeps them; streams are created and resharded at once.
 */
export function privateKinesalite(): Promise<PrivateBroker> {
  const cli = path.join(
    path.dirname(createRequire(import.meta.url).resolve("kinesalite/package.json")),
    "cli.js",
  );
  return privateBroker(
    (port, dir) =>
      spawn(
        process.execPath,
        [cli, "--port", String(port), "--path", dir].concat([
          "--createStreamMs",
          "0",
          "--deleteStreamMs",
          "0",
          "--updateStreamMs",
          "0",
        ]),
        { stdio: "ignore" },
      ),
    (port, stream) => `kinesis://${stream}?endpoint=http://127.0.0.1:${port}&create=true`,
  );
}

/**
 * librdkafka's mock cluster (see kafka/mock-cluster.ts) with the topics `topics` (2 partitions
 * each; it has no CreateTopics). A restart takes its one broker down (connections dropped,
 * new ones refused) for `downMs`, then up again with its logs and group offsets intact, as a
 * restarted broker comes back with its disk.
 */
export async function privateKafkaMock(topics: string[], downMs = 2_000): Promise<PrivateBroker> {
  const cluster = await startMockCluster();
  for (const topic of topics) await cluster.createTopic(topic, 2);
  return {
    // The mock's controller id is 0, a broker it lacks: no idempotent producer (see helpers.ts).
    url: (topic) =>
      `kafka://${cluster.brokers}/${topic}?sessionTimeout=6000&heartbeatInterval=500&idempotent=false`,
    async restart() {
      await cluster.setDown(1);
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await cluster.setUp(1);
    },
    stop: () => cluster.close(),
  };
}
