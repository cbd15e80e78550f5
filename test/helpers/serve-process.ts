import { spawn, type ChildProcess } from "node:child_process";
import { CLI } from "./cli.js";

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  /** Everything the process wrote to stdout and stderr so far (pino JSON lines). */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

/**
 * `mldeploy serve …` as a real process, resolved once it logs the URL it listens on. The
 * caller must pass `--port 0` (or a config that says so) so that parallel test files never
 * compete for a port.
 */
export function startServeProcess(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<ServeProcess> {
  const child = spawn(process.execPath, [CLI, "serve", ...args], {
    env: { ...process.env, MLDEPLOY_LOG_LEVEL: "info", ...options.env },
    cwd: options.cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? -1)),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`serve did not start within ${options.timeoutMs ?? 60_000} ms:\n${output}`));
    }, options.timeoutMs ?? 60_000);
    const onData = (chunk: string) => {
      output += chunk;
      const url = /"url":"(http:\/\/[^"]+)"/.exec(output)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve({
          child,
          url,
          output: () => output,
          exited,
          kill: (signal = "SIGTERM") => child.kill(signal),
        });
      }
    };
    child.stdout?.setEncoding("utf8").on("data", onData);
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}) before listening:\n${output}`));
    });
  });
}
