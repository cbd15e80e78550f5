import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";

import { tempDir } from "./temp.js";

/**
 * The credentials of s3rver's built-in account. s3rver rejects an unknown access key id but
 * does not verify SigV4 signatures, so a wrong secret goes unnoticed.
 */
export const S3RVER_CREDENTIALS = {
  AWS_ACCESS_KEY_ID: "S3RVER",
  AWS_SECRET_ACCESS_KEY: "S3RVER",
} as const;

export interface S3TestServer {
  /** e.g. http://127.0.0.1:40123 */
  endpoint: string;
  /** Where s3rver keeps the objects. */
  directory: string;
  /** Stops the server process (idempotent). */
  stop(): Promise<void>;
}

/**
 * Runs s3rver in its own process: reads options as JSON from argv, prints the bound address
 * as one JSON line, and exits when its stdin closes, so it cannot outlive a crashed test.
 */
const SERVER_SCRIPT = `
const S3rver = require(process.argv[1]);
const options = JSON.parse(process.argv[2]);
const server = new S3rver(options);
server.run().then((address) => process.stdout.write(JSON.stringify(address) + "\\n"));
process.stdin.on("end", () => process.exit(0)).resume();
process.on("SIGTERM", () => process.exit(0));
`;

/**
 * Starts s3rver (an S3-compatible HTTP server from npm) on 127.0.0.1, on a free port the OS
 * picks, storing objects in a fresh temp directory, with `buckets` created.
 *
 * It runs in a child process started with --openssl-legacy-provider: s3rver 3.7 encrypts
 * ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node >= 17) disables by
 * default, so any truncated listing (MaxKeys smaller than the result) fails with HTTP 500
 * otherwise. A separate process also makes "stop the server" a real outage for the client.
 */
export async function startS3Server(buckets: string[] = []): Promise<S3TestServer> {
  const directory = tempDir("mldeploy-s3rver-");
  const options = {
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  };
  const child = spawn(
    process.execPath,
    [
      "--openssl-legacy-provider",
      "-e",
      SERVER_SCRIPT,
      createRequire(import.meta.url).resolve("s3rver"),
      JSON.stringify(options),
    ],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const port = await firstLinePort(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    endpoint: `http://127.0.0.1:${port}`,
    directory,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

function firstLinePort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error("s3rver did not start within 10 s")), 10_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited early (status ${code})`));
    });
    lines.once("line", (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
}
