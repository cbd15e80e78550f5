import { mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import { loadPredictor } from "../model/predictor.js";
import type { ColumnSpec } from "../model/types.js";
import { planBundle, writeImportedBundle } from "./bundle.js";
import { readCheckRows } from "./check-data.js";
import { runCheck, type CheckResult } from "./check.js";
import { importModel, type ImportProvenance } from "./convert.js";
import { parseFeatureDeclarations } from "./feature-expr.js";
import { detectSource } from "./source.js";
import { ImportError } from "./types.js";

export interface ImportBundleOptions {
  /** The bundle directory to write (must not exist, or be empty). */
  out: string;
  /** --feature NAME=EXPR declarations. */
  features?: readonly string[];
  /** --output: the answer's name. */
  output?: string;
  /** --input: the request's columns, when the caller knows them. */
  requestColumns?: readonly ColumnSpec[];
  /** --check: a CSV, Parquet or JSON Lines file of request rows. */
  check?: string;
  /** Python executables to try for the check (default MLDEPLOY_PYTHON, else /usr/bin/python3, python3). */
  pythonCandidates?: string[];
  /** The location as the user gave it, for provenance. */
  uri?: string;
  onProgress?: (done: number, total: number) => void;
}

export interface ImportBundleResult {
  dir: string;
  provenance: ImportProvenance;
  check?: CheckResult;
  /** The request schema of the bundle written. */
  inputs: ColumnSpec[];
  output: string;
  /**
   * Why the --feature declarations stayed outside the graph (mldeploy.features), when they
   * did; absent when the bundle is self-contained.
   */
  featuresOutside?: string;
}

/**
 * `mldeploy import` as a library call: converts a local source into a bundle at `out`, running
 * the Python check first when asked. A failed check writes nothing (status "failed" is
 * returned, `dir` then names no directory).
 */
export async function importToBundle(
  localPath: string,
  options: ImportBundleOptions,
): Promise<ImportBundleResult> {
  const source = await detectSource(localPath);
  if (source.kind === "bundle") {
    throw new ImportError(
      `${localPath} is already an ONNX bundle (MLmodel has flavors.onnx): serve or register it as it is`,
    );
  }
  const declarations = parseFeatureDeclarations(options.features ?? []);
  const checkRows = options.check ? await readCheckRows(options.check) : undefined;
  const { converted, provenance } = await importModel(source, {
    uri: options.uri ?? localPath,
    onProgress: options.onProgress,
  });
  // The request's columns, when known: given, or the MLflow signature's, or the check data's.
  const requestColumns =
    options.requestColumns ??
    source.mlflow?.inputs ??
    (checkRows?.length ? columnsOfRows(checkRows) : undefined);
  const plan = planBundle(converted, {
    features: declarations,
    output: options.output,
    defaultOutput: source.mlflow?.outputName,
    requestColumns,
  });
  const declaredFeatures = declarations.map((d) => d.text);

  let check: CheckResult | undefined;
  if (checkRows && options.check) {
    // The check runs on a bundle written aside, so that a failed check leaves nothing at `out`.
    const scratch = await mkdtemp(path.join(path.dirname(path.resolve(options.out)), ".import-"));
    try {
      await writeImportedBundle(scratch, plan, { ...provenance, declaredFeatures }, checkRows);
      const predictor = await loadPredictor(scratch);
      try {
        check = await runCheck(source, plan.mldeploy, converted.kind, predictor, checkRows, {
          data: options.check,
          candidates: options.pythonCandidates,
        });
      } finally {
        await predictor.close();
      }
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
    if (check.status === "failed") {
      return {
        dir: options.out,
        provenance,
        check,
        inputs: plan.mldeploy.inputs,
        output: plan.mldeploy.output,
      };
    }
  }
  const saved = await writeImportedBundle(
    options.out,
    plan,
    { ...provenance, declaredFeatures, ...(check ? { check: { ...check } } : {}) },
    checkRows,
  );
  return {
    dir: path.resolve(options.out),
    provenance,
    check,
    inputs: plan.mldeploy.inputs,
    output: plan.mldeploy.output,
    ...(saved.featuresOutside ? { featuresOutside: saved.featuresOutside } : {}),
  };
}

/**
 * The columns of check rows as request columns: numbers as double, texts as string. Only their
 * names decide which model inputs must be declared; their types, which the model's own (or the
 * declarations) would give, are refined by planBundle from the graph where a column is a model
 * input.
 */
function columnsOfRows(rows: ReadonlyArray<Record<string, unknown>>): ColumnSpec[] {
  const first = rows[0];
  return Object.keys(first).map((name) => ({
    name,
    type:
      typeof first[name] === "string"
        ? "string"
        : typeof first[name] === "boolean"
          ? "boolean"
          : "double",
  }));
}
