import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { DuckDBConnection } from "@duckdb/node-api";
import { sqlString, withDuckDB } from "../../src/duckdb/index.js";

/**
 * Debian's Python, not the `python3` on PATH (a pyenv build without numpy/sklearn/onnx):
 * the reference implementations come from Debian packages.
 */
export const SYSTEM_PYTHON = "/usr/bin/python3";

/** True when `/usr/bin/python3 -c "import <module>"` succeeds. */
export function pythonHas(module: string): boolean {
  try {
    execFileSync(SYSTEM_PYTHON, ["-c", `import ${module}`], { stdio: "ignore", timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

export async function runPython(script: string, args: string[] = []): Promise<string> {
  const { stdout } = await promisify(execFile)(SYSTEM_PYTHON, ["-c", script, ...args], {
    timeout: 120_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

export async function makeTempDir(
  prefix: string,
): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `mldeploy-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs one query on a fresh DuckDB and returns its rows as JSON-friendly objects. */
export async function query(sql: string): Promise<Record<string, unknown>[]> {
  return withDuckDB(async (connection: DuckDBConnection) =>
    (await connection.runAndReadAll(sql)).getRowObjectsJson(),
  );
}

export function parquet(file: string): string {
  return `read_parquet(${sqlString(file)})`;
}

/** |a − b| <= tolerance · max(1, |b|), reporting the worst index when it fails. */
export function worstRelativeError(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
): { index: number; error: number } {
  let worst = { index: -1, error: 0 };
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i]));
    if (!(error <= worst.error)) worst = { index: i, error };
  }
  return worst;
}
