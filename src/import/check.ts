import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { applyFeatures, identityFeatures } from "../model/transform.js";
import type { MldeploySection, Predictor } from "../model/types.js";
import { validateRecords } from "../model/validate.js";
import type { ImportableSource } from "./convert.js";
import { ImportError } from "./types.js";

/**
 * `mldeploy import --check <data>`: the user's original model run by Python on their rows,
 * compared with mldeploy's predictions. This loads the pickle WITH Python, which executes
 * whatever it says: it only ever runs when the user asks for it, on their own file.
 */

/** Worst relative difference accepted (relative to max(|python|, 1)). */
export const CHECK_TOLERANCE = 1e-6;

export interface CheckResult {
  status: "passed" | "failed" | "skipped";
  /** Why it was skipped, or what failed. */
  reason?: string;
  rows?: number;
  worst_relative_error?: number;
  /** Rows where a classifier's label differs. */
  label_mismatches?: number;
  python?: string;
  data?: string;
}

/** Python executables to try: MLDEPLOY_PYTHON alone when set, else /usr/bin/python3 then python3. */
export function pythonCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const chosen = env.MLDEPLOY_PYTHON?.trim();
  return chosen ? [chosen] : ["/usr/bin/python3", "python3"];
}

/** The first candidate that imports the modules the source needs; undefined if none does. */
export async function findPython(
  modules: string[],
  candidates: string[] = pythonCandidates(),
): Promise<string | undefined> {
  for (const python of candidates) {
    const ok = await promisify(execFile)(
      python,
      ["-c", modules.map((m) => `import ${m}`).join("; ")],
      { timeout: 60_000 },
    ).then(
      () => true,
      () => false,
    );
    if (ok) return python;
  }
  return undefined;
}

/** The Python modules loading the source needs. */
export function modulesFor(source: ImportableSource): string[] {
  if (source.kind === "xgboost") return ["numpy", "xgboost"];
  const modules = ["numpy", "sklearn"];
  if (source.format === "joblib") modules.push("joblib");
  if (source.format === "mlflow-sklearn") modules.push("cloudpickle");
  return modules;
}

/**
 * Runs the check: model inputs are derived from the rows as the bundle derives them (the
 * declared features), the original model predicts them in Python, `predictor` (the converted
 * bundle) predicts the rows, and the two are compared.
 */
export async function runCheck(
  source: ImportableSource,
  section: MldeploySection,
  kind: "regressor" | "classifier",
  predictor: Predictor,
  rows: ReadonlyArray<Record<string, unknown>>,
  options: { data: string; candidates?: string[] },
): Promise<CheckResult> {
  const candidates = options.candidates ?? pythonCandidates();
  const modules = modulesFor(source);
  const python = await findPython(modules, candidates);
  if (!python) {
    const library = source.kind === "xgboost" ? "XGBoost" : "scikit-learn";
    return {
      status: "skipped",
      reason: `no Python with ${library} found (tried ${candidates.join(", ")})`,
      data: path.basename(options.data),
    };
  }
  const { batch, errors } = validateRecords(rows, section.inputs);
  if (errors.length) {
    const first = errors[0];
    throw new ImportError(
      `--check ${options.data}: row ${first.row + 1}: field "${first.field}" ${first.message}`,
    );
  }
  const features = applyFeatures(batch, section.features ?? identityFeatures(section.inputs));
  const columns = Object.keys(features);
  const data = {
    columns,
    rows: Array.from({ length: batch.rows }, (_, row) => columns.map((c) => features[c][row])),
  };
  const ours = await predictor.predictColumns(batch);
  const reference = await runPython(python, source, data);
  if (reference.length !== ours.rows) {
    throw new ImportError(
      `--check: Python returned ${reference.length} predictions for ${ours.rows} rows`,
    );
  }
  let worst = 0;
  let mismatches = 0;
  for (let i = 0; i < ours.rows; i++) {
    const actual = ours.values[i];
    if (kind === "classifier" || typeof actual === "string") {
      // Labels are compared as Python prints them: "long" = "long", 3 = 3.0.
      if (String(reference[i]) !== String(actual)) mismatches++;
      continue;
    }
    const expected = Number(reference[i]);
    const relative = Math.abs(actual - expected) / Math.max(Math.abs(expected), 1);
    if (!(relative <= worst)) worst = Number.isNaN(relative) ? Infinity : relative;
  }
  const failed = kind === "classifier" ? mismatches > 0 : worst > CHECK_TOLERANCE;
  return {
    status: failed ? "failed" : "passed",
    rows: ours.rows,
    ...(kind === "classifier" ? { label_mismatches: mismatches } : { worst_relative_error: worst }),
    python,
    data: path.basename(options.data),
  };
}

async function runPython(
  python: string,
  source: ImportableSource,
  data: { columns: string[]; rows: unknown[][] },
): Promise<unknown[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "mldeploy-check-"));
  try {
    const input = path.join(dir, "rows.json");
    const output = path.join(dir, "predictions.json");
    await writeFile(input, JSON.stringify(data));
    const loader = source.kind === "xgboost" ? "xgboost" : source.format;
    try {
      await promisify(execFile)(
        python,
        ["-c", REFERENCE_SCRIPT, source.file, loader, input, output],
        {
          timeout: 600_000,
          maxBuffer: 16 * 1024 * 1024,
        },
      );
    } catch (error) {
      const stderr = String((error as { stderr?: unknown }).stderr ?? "").trim();
      const last = stderr.split("\n").pop() ?? (error as Error).message;
      throw new ImportError(`--check: the original model failed in Python (${python}): ${last}`);
    }
    return JSON.parse(await readFile(output, "utf8")) as unknown[];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Loads the model as its own library does and predicts the rows (model inputs, in the bundle's
 * graph input order): a list of dicts for a DictVectorizer first stage, a DataFrame for a
 * ColumnTransformer (needs pandas), a 2-D array otherwise; the tuple the original service
 * pickled is applied stage by stage.
 */
const REFERENCE_SCRIPT = `
import json, sys
path, loader, data_path, out_path = sys.argv[1:5]
with open(data_path) as f:
    data = json.load(f)
cols, rows = data["columns"], data["rows"]
import numpy as np

def matrix():
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(cols))

if loader == "xgboost":
    import xgboost as xgb
    booster = xgb.Booster()
    booster.load_model(path)
    names = booster.feature_names
    dm = xgb.DMatrix(matrix(), feature_names=cols if names else None)
    y = booster.predict(dm)
    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    if objective.startswith("binary:"):
        y = (y > 0.5).astype(np.int64)
    elif objective == "multi:softprob":
        y = np.argmax(y, axis=1)
else:
    if loader == "joblib":
        import joblib
        model = joblib.load(path)
    else:
        import pickle
        with open(path, "rb") as f:
            model = pickle.load(f)
    stages = list(model) if isinstance(model, (tuple, list)) else [model]
    first = stages[0]
    inner = first.steps[0][1] if hasattr(first, "steps") else first
    kind = type(inner).__name__
    if kind == "DictVectorizer":
        X = [dict(zip(cols, r)) for r in rows]
    elif kind == "ColumnTransformer":
        import pandas as pd
        X = pd.DataFrame(rows, columns=cols)
    else:
        X = matrix()
    for stage in stages[:-1]:
        X = stage.transform(X)
    y = stages[-1].predict(X)
with open(out_path, "w") as f:
    json.dump([v.item() if hasattr(v, "item") else v for v in np.asarray(y).ravel()], f)
`;
