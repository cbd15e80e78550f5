import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface ServerProcess {
  url: string;
  /** The server's process id (its workers are its children): for its CPU time. */
  pid?: number;
  stop(): Promise<void>;
}

const script = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));

/**
 * Starts `mldeploy serve` (through its process entry) with the given options, in `cwd` when
 * given (a model imported from Python is converted into ./mldeploy-data/import-cache there).
 */
export function startService(
  options: Record<string, unknown>,
  port: number,
  cwd?: string,
): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [
      script("../serve/process-main.js"),
      JSON.stringify({ host: "127.0.0.1", port, logLevel: "warn", ...options }),
    ],
    { stdio: ["ignore", "inherit", "inherit"], ...(cwd ? { cwd } : {}) },
  );
  return ready(child, `http://127.0.0.1:${port}`);
}

/** Starts the bare node:http reference server with the same number of processes. */
export function startCeiling(port: number, processes: number): Promise<ServerProcess> {
  const child = spawn(process.execPath, [script("./ceiling.js"), String(port), String(processes)], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  return ready(child, `http://127.0.0.1:${port}`);
}

async function ready(
  child: ChildProcess,
  url: string,
  timeoutMs = 120_000,
): Promise<ServerProcess> {
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const stop = async () => {
    if (!gone) child.kill("SIGTERM");
    await exited;
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gone)
      throw new Error(`server process for ${url} exited during startup (code ${child.exitCode})`);
    try {
      const response = await fetch(`${url}/ping`);
      await response.arrayBuffer();
      if (response.ok) return { url, pid: child.pid, stop };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await stop();
  throw new Error(`server process for ${url} did not become ready within ${timeoutMs} ms`);
}
