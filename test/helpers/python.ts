import { spawnSync } from "node:child_process";

/**
 * Debian's python3-sklearn / python3-onnx live under the system interpreter; the `python3` on
 * PATH may be a pyenv or venv Python without them, so the tests always name /usr/bin/python3.
 */
export const SYSTEM_PYTHON = "/usr/bin/python3";

export function pythonHas(module: string): boolean {
  return spawnSync(SYSTEM_PYTHON, ["-c", `import ${module}`], { stdio: "ignore" }).status === 0;
}

/** Runs a Python script; throws with its stderr when it fails. */
export function runPython(script: string, args: string[] = [], input?: string): string {
  const result = spawnSync(SYSTEM_PYTHON, ["-c", script, ...args], {
    encoding: "utf8",
    input,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`python failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}
