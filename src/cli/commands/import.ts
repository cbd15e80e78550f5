import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { UserError } from "../../config/errors.js";
import type { ImportBundleResult } from "../../import/import-bundle.js";
import { addLogFormatOption, logFormatFlag } from "../log-format-option.js";
import { createLogger } from "../../log/logger.js";
import type { ColumnSpec, ColumnType } from "../../model/types.js";
import { createProgress } from "../progress.js";
import { addRegistryConfigOptions, localModelPath, withRegistry } from "../registry-settings.js";

const COLUMN_TYPES: ColumnType[] = ["long", "integer", "double", "float", "string", "boolean"];
/** Files above this size show a progress indication while they are read. */
const PROGRESS_BYTES = 16 * 1024 * 1024;

interface ImportFlags extends Record<string, unknown> {
  feature?: string[];
  output?: string;
  input?: string;
  out?: string;
  register?: string;
  alias?: string[];
  check?: string;
  experiment: string;
}

export function registerImport(program: Command): void {
  const command = program
    .command("import")
    .description(
      "Convert a model from Python (scikit-learn pickle/joblib, MLflow sklearn or xgboost model, XGBoost file) into an ONNX bundle, without Python",
    )
    .argument(
      "<source>",
      "a .pkl/.pickle/.bin/.joblib file, an XGBoost .json/.ubj/.xgb/.model/.bst file, an MLflow model directory, runs:/<run_id>/<path>, models:/… or s3://bucket/prefix",
    )
    .option(
      "--feature <NAME=EXPR>",
      'a model input built from request columns (repeatable): columns, "strings" and +, e.g. PU_DO=PULocationID + "_" + DOLocationID',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option(
      "--output <name>",
      'the name the prediction is answered under (e.g. duration); default the MLflow signature\'s output, else "prediction"',
    )
    .option(
      "--input <columns>",
      "the request's columns, NAME[:TYPE],… (types long, double, string, …): a model input neither among them nor declared with --feature is an error",
    )
    .option("--out <dir>", "write the bundle to this directory")
    .option("--register <model-name>", "log the bundle as a run and register it as a new version")
    .option(
      "--alias <alias>",
      "with --register: point this alias at the new version (repeatable)",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option("--experiment <name>", "with --register: the experiment of the run", "import")
    .option(
      "--check <data>",
      "CSV, Parquet or JSON Lines file of request rows: run the ORIGINAL model in Python on them and compare (this loads the pickle with Python, which executes it: only for your own files)",
    );
  addRegistryConfigOptions(command);
  addLogFormatOption(command);
  command.addHelpText(
    "after",
    `
The file is read by mldeploy's own pickle reader, which builds only the estimator classes it
knows and refuses anything else (os.system, eval, …) before building anything: no Python runs.
Only --check runs Python (MLDEPLOY_PYTHON, else /usr/bin/python3, else python3 with
scikit-learn or xgboost); without one, the check is skipped and says so.

Examples:
  mldeploy import ./lin_reg.bin --feature 'PU_DO=PULocationID + "_" + DOLocationID' \\
      --output duration --out ./models/ride-duration
  mldeploy import ./lin_reg.bin --feature 'PU_DO=PULocationID + "_" + DOLocationID' \\
      --output duration --register ride-duration --alias production --check rides.parquet
  mldeploy import ./mlruns/1/<run_id>/artifacts/model --out ./models/rf
  mldeploy import ./model.xgb --out ./models/xgb`,
  );
  command.action(async (source: string, flags: ImportFlags) => {
    if ((flags.out === undefined) === (flags.register === undefined)) {
      throw new UserError("give either --out <dir> or --register <model-name>");
    }
    if (flags.alias?.length && !flags.register) throw new UserError("--alias needs --register");
    const logger = createLogger({ format: logFormatFlag(flags) });
    const local = await localModelPath(source, flags);
    const out = flags.out ?? (await mkdtemp(path.join(os.tmpdir(), "mldeploy-import-")));
    if (flags.out) await refuseNonEmpty(flags.out);
    try {
      const progress = createProgress("reading", logger);
      const { importToBundle } = await import("../../import/import-bundle.js");
      let result: ImportBundleResult;
      try {
        result = await importToBundle(local, {
          out,
          features: flags.feature,
          output: flags.output,
          requestColumns: flags.input === undefined ? undefined : parseColumns(flags.input),
          check: flags.check,
          uri: source,
          onProgress: (done, total) => {
            if (total >= PROGRESS_BYTES) progress.update(done, total);
          },
        });
      } finally {
        progress.stop();
      }
      printSummary(result);
      if (result.check?.status === "failed") {
        process.stderr.write(
          `mldeploy: error: check failed: mldeploy's predictions differ from Python's (above 1e-6 relative or a label differs); nothing was written\n`,
        );
        process.exitCode = 1;
        return;
      }
      if (flags.register) await register(result, flags);
      else process.stdout.write(`bundle    ${result.dir}\n`);
    } finally {
      if (!flags.out) await rm(out, { recursive: true, force: true });
    }
  });
}

async function refuseNonEmpty(dir: string): Promise<void> {
  const entries = await readdir(dir).catch(() => []);
  if (entries.length) throw new UserError(`--out ${dir} exists and is not empty`);
}

function parseColumns(text: string): ColumnSpec[] {
  return text
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "")
    .map((entry) => {
      const [name, type = "double"] = entry.split(":").map((part) => part.trim());
      if (!COLUMN_TYPES.includes(type as ColumnType)) {
        throw new UserError(
          `--input ${entry}: unknown type "${type}" (use ${COLUMN_TYPES.join(", ")})`,
        );
      }
      return { name, type: type as ColumnType };
    });
}

function printSummary(result: ImportBundleResult): void {
  const { source, importer } = result.provenance;
  const lines = [
    `estimator ${importer.estimator}${importer.library ? ` (${importer.library.name}${importer.library.version ? " " + importer.library.version : ""})` : ""}`,
    `source    ${source.file} (${source.format}, ${source.bytes} bytes, sha256 ${source.sha256})`,
    `request   ${result.inputs.map((c) => `${c.name} (${c.type})`).join(", ")}`,
    `output    ${result.output}`,
    ...(result.featuresOutside
      ? [
          `features  applied by mldeploy before the graph (not self-contained): ${result.featuresOutside}`,
        ]
      : []),
  ];
  const check = result.check;
  if (check?.status === "skipped") lines.push(`check     skipped: ${check.reason}`);
  else if (check) {
    lines.push(
      `check     ${check.status}: ${check.rows} rows, ` +
        (check.label_mismatches !== undefined
          ? `${check.label_mismatches} label mismatches`
          : `worst relative error ${check.worst_relative_error?.toExponential(2)}`) +
        ` (Python: ${check.python})`,
    );
  }
  process.stdout.write(lines.join("\n") + "\n");
}

async function register(result: ImportBundleResult, flags: ImportFlags): Promise<void> {
  const name = flags.register!;
  await withRegistry(flags, async (registry) => {
    const { source, importer } = result.provenance;
    const run = await registry.startRun({
      experiment: flags.experiment,
      tags: {
        "mldeploy.import.source": source.uri ?? source.file,
        "mldeploy.import.format": source.format,
        "mldeploy.import.estimator": importer.estimator,
      },
    });
    try {
      await run.logParams({
        source_file: source.file,
        source_sha256: source.sha256,
        source_format: source.format,
        estimator: importer.estimator,
        ...(result.check ? { check: result.check.status } : {}),
      });
      if (result.check?.worst_relative_error !== undefined) {
        await run.logMetric("check_worst_relative_error", result.check.worst_relative_error);
      }
      if (result.check?.rows !== undefined) await run.logMetric("check_rows", result.check.rows);
      const version = await run.logModel(result.dir, { register: name });
      if (!version) throw new Error("unreachable: logModel with register returned no version");
      for (const alias of flags.alias ?? []) await registry.setAlias(name, alias, version.version);
      await run.end();
      process.stdout.write(
        `run       ${run.id} (experiment ${flags.experiment})\n` +
          `registered ${name} version ${version.version}${flags.alias?.length ? ` (aliases ${flags.alias.join(", ")})` : ""}  ` +
          `(serve it: mldeploy serve models:/${name}/${version.version})\n`,
      );
    } catch (error) {
      await run.end("FAILED").catch(() => undefined);
      throw error;
    }
  });
}
