import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { ServerProcess } from "./processes.js";
import { writeRidesJson } from "./rides-json.js";

/**
 * The system mldeploy replaces, for comparison in the same benchmark run: the course's Flask
 * app (bench/original-service/predict.py) under gunicorn, serving the pickles its training
 * script writes. Python comes from Debian (python3-sklearn, python3-flask, gunicorn).
 */
export const SYSTEM_PYTHON = process.env.MLDEPLOY_BENCH_PYTHON ?? "/usr/bin/python3";
export const GUNICORN = process.env.MLDEPLOY_BENCH_GUNICORN ?? "/usr/bin/gunicorn";

const SERVICE_DIR = fileURLToPath(new URL("../../bench/original-service/", import.meta.url));

/** The original system's models, trained on the sample rides by its own script. */
export interface OriginalModels {
  /** The web-service variant's pickled (DictVectorizer, LinearRegression). */
  linear: string;
  /** The MLflow variant's model directory: Pipeline(DictVectorizer, RandomForestRegressor). */
  forestDir: string;
  /** Its model.pkl. */
  forestPickle: string;
  /** The rides they were trained on (JSON columns). */
  rides: string;
}

/**
 * Why the original system's models cannot be trained here (scikit-learn and cloudpickle are
 * needed, not Flask or gunicorn), or undefined when they can.
 */
export async function trainingPythonMissing(): Promise<string | undefined> {
  try {
    await promisify(execFile)(SYSTEM_PYTHON, ["-c", "import sklearn, cloudpickle"]);
    return undefined;
  } catch {
    return `${SYSTEM_PYTHON} cannot import sklearn and cloudpickle (apt-get install python3-sklearn python3-cloudpickle)`;
  }
}

/** Why the original service cannot run here, or undefined when it can. */
export async function originalServiceMissing(): Promise<string | undefined> {
  if (!existsSync(GUNICORN)) return `${GUNICORN} not found (apt-get install gunicorn)`;
  try {
    await promisify(execFile)(SYSTEM_PYTHON, ["-c", "import sklearn, flask, cloudpickle"]);
    return undefined;
  } catch {
    return `${SYSTEM_PYTHON} cannot import sklearn, flask and cloudpickle (apt-get install python3-sklearn python3-flask python3-cloudpickle)`;
  }
}

/**
 * Trains both models once into `root` (kept for later runs): `rows` generated rides, of
 * which those of 1–60 minutes are kept, as the course did.
 */
export async function originalModels(
  root: string,
  rows = 70_000,
  seed = 1,
): Promise<OriginalModels> {
  await mkdir(root, { recursive: true });
  const rides = path.join(root, `rides-${rows}-${seed}.json`);
  const models: OriginalModels = {
    linear: path.join(root, "lin_reg.bin"),
    forestDir: path.join(root, "mlflow-model"),
    forestPickle: path.join(root, "mlflow-model", "model.pkl"),
    rides,
  };
  if (existsSync(models.linear) && existsSync(path.join(models.forestDir, "MLmodel")))
    return models;
  if (!existsSync(rides)) await writeRidesJson(rides, rows, seed);
  console.log(`training the original service's models into ${root} with scikit-learn (once)…`);
  await promisify(execFile)(SYSTEM_PYTHON, [path.join(SERVICE_DIR, "train.py"), root, rides], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return models;
}

/** The default place of the benchmark's copy of those models. */
export const ORIGINAL_MODELS_ROOT = path.join(os.tmpdir(), "mldeploy-bench", "original-service");

/**
 * Starts the Flask app under gunicorn (sync workers, as the course's Dockerfile ran it) on
 * 127.0.0.1:`port`, serving `modelFile`; ready once POST /predict answers.
 */
export async function startOriginalService(
  modelFile: string,
  port: number,
  workers = 2,
): Promise<ServerProcess> {
  const child = spawn(
    GUNICORN,
    [
      "--bind",
      `127.0.0.1:${port}`,
      "--workers",
      String(workers),
      "--chdir",
      SERVICE_DIR,
      "predict:app",
    ],
    {
      env: { ...process.env, MODEL_FILE: modelFile, RUN_ID: "original" },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (!gone) child.kill("SIGTERM");
    await exited;
  };
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (gone) throw new Error(`gunicorn exited during startup: ${stderr.trim()}`);
    try {
      const response = await fetch(`${url}/predict`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ PULocationID: 10, DOLocationID: 50, trip_distance: 4 }),
      });
      await response.arrayBuffer();
      if (response.ok) return { url, stop };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await stop();
  throw new Error(`gunicorn did not answer POST /predict within 120 s: ${stderr.trim()}`);
}
