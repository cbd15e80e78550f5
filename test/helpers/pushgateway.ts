import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";

/** Debian's prometheus-pushgateway, which .ci/run installs. */
const BINARY = "/usr/bin/prometheus-pushgateway";
export const HAS_PUSHGATEWAY = existsSync(BINARY);
export const NO_PUSHGATEWAY = `skipped: ${BINARY} is missing (apt-get install prometheus-pushgateway)`;

export interface PushgatewayServer {
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  /** The gateway's own /metrics: every pushed group, with job and grouping labels. */
  scrape(): Promise<string>;
  stop(): Promise<void>;
}

/** A real Prometheus Pushgateway on 127.0.0.1, in memory (no persistence file). */
export async function startPushgateway(): Promise<PushgatewayServer> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(BINARY, [`--web.listen-address=127.0.0.1:${port}`], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (log += chunk));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ready = await fetch(`${url}/-/ready`).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`the pushgateway did not start on ${url}:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url,
    scrape: async () => (await fetch(`${url}/metrics`)).text(),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address
          ? resolve(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}
