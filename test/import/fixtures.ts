import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { writeRidesJson } from "../../src/bench/rides-json.js";
import { SYSTEM_PYTHON } from "../helpers/python.js";

/**
 * Fixtures written at test time by Debian's Python libraries (python3-sklearn 1.2,
 * python3-xgboost 1.7, python3-joblib, python3-cloudpickle), never checked in: each test
 * file gives a script, the script writes its files into a directory, and the directory is
 * kept under the system temp folder by the script's hash, so a second test run (or another
 * test file with the same script) does not fit the models again.
 */
export { SYSTEM_PYTHON };

/** True when /usr/bin/python3 imports every module named. */
export function pythonHasAll(...modules: string[]): boolean {
  try {
    execFileSync(SYSTEM_PYTHON, ["-c", modules.map((m) => `import ${m}`).join("; ")], {
      stdio: "ignore",
      timeout: 60_000,
    });
    return true;
  } catch {
    return false;
  }
}

/** The message a test file skips with when the reference libraries are missing. */
export const NO_PYTHON_LIBS =
  "skipped: /usr/bin/python3 lacks the reference libraries " +
  "(apt-get install python3-sklearn python3-xgboost python3-joblib python3-cloudpickle)";

const FIXTURE_ROOT = path.join(os.tmpdir(), "mldeploy-import-fixtures");

/**
 * Runs `script` with /usr/bin/python3 as `python3 -c script <dir> <ridesJson>` once per
 * distinct (script, rides) and returns `dir`. The rides file is sampleRidesJson()'s.
 */
export async function pythonFixture(script: string, rides?: string): Promise<string> {
  const hash = createHash("sha256")
    .update(script)
    .update(rides ?? "")
    .digest("hex")
    .slice(0, 16);
  const dir = path.join(FIXTURE_ROOT, hash);
  if (await exists(path.join(dir, ".done"))) return dir;
  const staging = `${dir}.${process.pid}.${Date.now()}`;
  await mkdir(staging, { recursive: true });
  try {
    await promisify(execFile)(SYSTEM_PYTHON, ["-c", script, staging, ...(rides ? [rides] : [])], {
      timeout: 600_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    await writeFile(path.join(staging, ".done"), "");
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir).catch(async (error: NodeJS.ErrnoException) => {
      // Another test file made the same fixture meanwhile: theirs is as good as ours.
      if (error.code !== "ENOTEMPTY" && error.code !== "EEXIST") throw error;
      await rm(staging, { recursive: true, force: true });
    });
    return dir;
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    const stderr = (error as { stderr?: string }).stderr;
    throw new Error(`fixture script failed: ${stderr ?? (error as Error).message}`);
  }
}

/**
 * The sample rides (the generator the demo uses, seed fixed) as a JSON file of columns:
 * {"PULocationID": [...], "DOLocationID": [...], "trip_distance": [...], "duration": [...]},
 * rides of 1–60 minutes only, as the reference use case trains on. Python scripts read it
 * with json.load; the same rows feed mldeploy, so both sides see identical inputs.
 */
export async function sampleRidesJson(rows = 20_000, seed = 17): Promise<string> {
  const file = path.join(FIXTURE_ROOT, `rides-${rows}-${seed}.json`);
  if (await exists(file)) return file;
  await mkdir(FIXTURE_ROOT, { recursive: true });
  return writeRidesJson(file, rows, seed);
}

export async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, "utf8")) as T;
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
