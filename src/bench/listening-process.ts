import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The built CLI (dist/cli/main.js), for scripts that start mldeploy processes. */
export const CLI_PATH = fileURLToPath(new URL("../cli/main.js", import.meta.url));

/** An mldeploy process that listens: `url` is what it logged; `stop` sends SIGTERM and waits. */
export interface ListeningProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * The environment for mldeploy processes over the local registry in `dataDir`, whatever the
 * caller's shell points at, logging JSON lines (their URL is read from them), with no token.
 */
export function localRegistryEnv(dataDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MLDEPLOY_DATA_DIR: dataDir,
    MLDEPLOY_LOG_FORMAT: "json",
    MLDEPLOY_LOG_LEVEL: "info",
  };
  delete env.MLDEPLOY_REGISTRY_TOKEN;
  delete env.MLDEPLOY_REGISTRY_URL;
  delete env.MLDEPLOY_CONFIG;
  return env;
}

/**
 * Starts `mldeploy <args>` (a command that listens: ui, serve, registry-server) and resolves
 * once it logs its URL; rejects with its stderr if it exits first or logs none within 30 s.
 * However the calling script ends, the process does not outlive it.
 */
export async function startListening(
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<ListeningProcess> {
  const name = args[0];
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    cwd: options.cwd,
    env: options.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const killOnExit = () => child.kill("SIGTERM");
  process.on("exit", killOnExit);
  const exited = new Promise<void>((resolve) =>
    child.on("close", () => {
      process.off("exit", killOnExit);
      resolve();
    }),
  );
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => {
      child.kill("SIGTERM");
      reject(new Error(`mldeploy ${name} logged no URL within 30 s: ${stderr}`));
    }, 30_000);
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("close", (code) => {
      clearTimeout(timer);
      reject(new Error(`mldeploy ${name} exited with ${code}: ${stderr}`));
    });
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      const match = /"url":"(http:[^"]+)"/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  return {
    url,
    child,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
