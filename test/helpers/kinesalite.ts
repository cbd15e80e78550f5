import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";

/**
 * Credentials and settings for the AWS SDK against kinesalite. kinesalite checks that a
 * request is signed but not the signature, so any key works; the SDK insists on having one.
 */
export const KINESALITE_AWS_ENV = {
  AWS_ACCESS_KEY_ID: "kinesalite",
  AWS_SECRET_ACCESS_KEY: "kinesalite",
  AWS_REGION: "us-east-1",
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
} as const;

export interface KinesaliteServer {
  /** e.g. http://127.0.0.1:40123 */
  endpoint: string;
  /** Stops the server process (idempotent); every stream is gone (in memory). */
  stop(): Promise<void>;
}

/**
 * Runs kinesalite in its own process, in memory, with streams created, deleted and resharded
 * at once (0 ms in CREATING/UPDATING), on a port the OS picks; prints that port as one JSON
 * line and exits when its stdin closes, so it cannot outlive a crashed test.
 */
const SERVER_SCRIPT = `
const kinesalite = require(process.argv[1]);
const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 });
server.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify(server.address()) + "\\n"));
process.stdin.on("end", () => process.exit(0)).resume();
process.on("SIGTERM", () => process.exit(0));
`;

/** Starts kinesalite (a Kinesis-API server from npm) on 127.0.0.1. */
export async function startKinesalite(): Promise<KinesaliteServer> {
  const child = spawn(
    process.execPath,
    ["-e", SERVER_SCRIPT, createRequire(import.meta.url).resolve("kinesalite")],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const port = await firstLinePort(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Sets the AWS_* variables kinesalite needs in this (test) process. */
export function useKinesaliteEnv(): void {
  Object.assign(process.env, KINESALITE_AWS_ENV);
}

function firstLinePort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(
      () => reject(new Error("kinesalite did not start within 10 s")),
      10_000,
    );
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`kinesalite exited early (status ${code})`));
    });
    lines.once("line", (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
}
