import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/**
 * librdkafka's mock cluster (mock-cluster.c) as a child process: a Kafka-protocol broker on a
 * real TCP port, installed from Debian (`apt-get install librdkafka-dev`). See mock-cluster.c
 * for what it implements; topics are created with createTopic(), not the admin API.
 */
export interface MockCluster {
  /** bootstrap servers, "127.0.0.1:port[,…]". */
  brokers: string;
  createTopic(name: string, partitions: number): Promise<void>;
  /** Broker `id` (1-based) stops answering, until setUp(id). */
  setDown(id: number): Promise<void>;
  setUp(id: number): Promise<void>;
  /** The next `count` requests of Kafka API `apiKey` are answered with error `errorCode`. */
  failRequests(apiKey: number, count: number, errorCode: number): Promise<void>;
  close(): Promise<void>;
}

const SOURCE = fileURLToPath(new URL("./mock-cluster.c", import.meta.url));
const START_TIMEOUT_MS = 10_000;

/** Compiles mock-cluster.c once per source version; throws when cc or librdkafka-dev is missing. */
async function build(): Promise<string> {
  const hash = createHash("sha256").update(readFileSync(SOURCE)).digest("hex").slice(0, 12);
  const binary = path.join(os.tmpdir(), `mldeploy-kafka-mock-${hash}`);
  if (existsSync(binary)) return binary;
  // Test files build in parallel: each compiles to its own name, the rename is atomic.
  const tmp = `${binary}.${process.pid}.tmp`;
  try {
    await promisify(execFile)("cc", ["-O1", "-o", tmp, SOURCE, "-lrdkafka"]);
    await rename(tmp, binary);
  } finally {
    await rm(tmp, { force: true });
  }
  return binary;
}

/** Whether the mock cluster can be built here (cc and librdkafka-dev installed). */
export async function mockClusterAvailable(): Promise<boolean> {
  return build().then(
    () => true,
    () => false,
  );
}

export async function startMockCluster(brokers = 1): Promise<MockCluster> {
  const binary = await build();
  const child: ChildProcess = spawn(binary, [String(brokers)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout! });
  const waiting: Array<(line: string) => void> = [];
  let bootstrap: ((servers: string) => void) | undefined;
  lines.on("line", (line) => {
    if (line.startsWith("bootstrap ")) bootstrap?.(line.slice("bootstrap ".length));
    else waiting.shift()?.(line);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const servers = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error("the Kafka mock cluster did not start")),
      START_TIMEOUT_MS,
    );
    bootstrap = (value) => {
      clearTimeout(timer);
      resolve(value);
    };
    child.once("error", reject);
    void exited.then(() => reject(new Error("the Kafka mock cluster exited at start")));
  });

  const command = (text: string): Promise<void> =>
    new Promise((resolve, reject) => {
      waiting.push((line) =>
        line === "ok" ? resolve() : reject(new Error(`mock cluster: ${text}: ${line}`)),
      );
      child.stdin!.write(`${text}\n`);
    });

  return {
    brokers: servers,
    createTopic: (name, partitions) => command(`topic ${name} ${partitions}`),
    setDown: (id) => command(`down ${id}`),
    setUp: (id) => command(`up ${id}`),
    failRequests: (apiKey, count, errorCode) => command(`fail ${apiKey} ${count} ${errorCode}`),
    async close() {
      child.stdin!.end();
      const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
