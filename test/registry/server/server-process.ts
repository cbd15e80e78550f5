import { spawn, type ChildProcess } from "node:child_process";
import { CLI } from "../../helpers/cli.js";
import { tempDir } from "../../helpers/temp.js";

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  /** Its log lines, parsed. */
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
  /** What it wrote to stderr so far (a crash's stack). */
  stderr(): string;
}

/** `mldeploy registry-server … --port 0` (built CLI) in a fresh directory, once it listens. */
export async function startServerProcess(args: string[]): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [CLI, "registry-server", "--port", "0", "--log-level", "info", ...args],
    {
      cwd: tempDir("mldeploy-registry-server-"),
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, MLDEPLOY_LOG_LEVEL: "info" },
    },
  );
  const lines: Record<string, unknown>[] = [];
  let stderr = "";
  let buffered = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL logged: ${stderr}`)), 30_000);
    void exited.then((code) => reject(new Error(`registry-server exited ${code}: ${stderr}`)));
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
        const line = JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>;
        buffered = buffered.slice(nl + 1);
        lines.push(line);
        if (typeof line.url === "string") {
          clearTimeout(timer);
          resolve(line.url);
        }
      }
    });
  });
  return { child, url, lines, exited, stderr: () => stderr };
}
