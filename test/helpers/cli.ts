import { spawnSync } from "node:child_process";
import path from "node:path";

/** The built CLI: tests run it as users do (npm test builds dist/ first). */
export const CLI = path.resolve("dist/cli/main.js");

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {},
): CliResult {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    encoding: "utf8",
    env: { ...process.env, MLDEPLOY_LOG_LEVEL: "warn", ...options.env },
    cwd: options.cwd,
    input: options.input,
    timeout: 120_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
