import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { CLI } from "./cli.js";

/**
 * util-linux `script`, which runs a command on a pseudo-terminal: how the tests see what a
 * person at a terminal sees (stdout.isTTY in the CLI), without a native pty module.
 */
export const HAS_SCRIPT = spawnSync("script", ["--version"], { stdio: "ignore" }).status === 0;

export interface TerminalResult {
  /** Everything written to the terminal (stdout and stderr together), as the user saw it. */
  raw: string;
  /** The same without colours and with \n line ends, split into non-empty lines. */
  lines: string[];
  status: number | null;
}

// Escape sequences are what this strips.
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g;

export function plainLines(raw: string): string[] {
  return raw
    .replace(ANSI, "")
    .split(/\r\n|\r|\n/)
    .map((line) => line.trimEnd())
    .filter((line) => line !== "");
}

const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;

/**
 * Runs `mldeploy <args>` on a pseudo-terminal. With `until`, once the output matches it the
 * CLI (script's child, thanks to exec) gets SIGTERM, as a server is stopped with Ctrl-C.
 */
export function runCliInTerminal(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; until?: RegExp; timeoutMs?: number } = {},
): Promise<TerminalResult> {
  const command = ["exec", quote(process.execPath), quote(CLI), ...args.map(quote)].join(" ");
  const child = spawn("script", ["-qfec", command, "/dev/null"], {
    env: { ...process.env, SHELL: "/bin/sh", MLDEPLOY_LOG_LEVEL: "info", ...options.env },
    cwd: options.cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let raw = "";
  let signalled = false;
  const stopCli = () => {
    const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, "utf8");
    for (const pid of children.trim().split(/\s+/).filter(Boolean))
      process.kill(Number(pid), "SIGTERM");
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`mldeploy ${args.join(" ")} did not finish on the terminal:\n${raw}`));
    }, options.timeoutMs ?? 60_000);
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      raw += chunk;
      if (options.until && !signalled && options.until.test(raw.replace(ANSI, ""))) {
        signalled = true;
        stopCli();
      }
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (raw += chunk));
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ raw, lines: plainLines(raw), status });
    });
  });
}
