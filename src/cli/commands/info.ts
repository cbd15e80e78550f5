import path from "node:path";
import type { Command } from "commander";
import { readBundle } from "../../model/bundle.js";
import { printTable } from "../output.js";
import { addImportOptions, servableModelPath } from "../import-options.js";
import { addRegistryConfigOptions } from "../registry-settings.js";

/** The model argument of `info` and `predict`. */
export const MODEL_ARGUMENT =
  "a bundle directory, file:// URI, models:/<name>@<alias>, models:/<name>/<version>, runs:/<run_id>/<path> or s3://bucket/prefix; " +
  "or a model from Python (a pickle, joblib or XGBoost file, an MLflow sklearn/xgboost directory), converted on load";

export function registerInfo(program: Command): void {
  const command = program
    .command("info")
    .description(
      "Show what a model bundle expects and returns: request schema, signature, training facts",
    )
    .argument("<model>", MODEL_ARGUMENT)
    .option("--json", "print one JSON document instead of tables");
  addImportOptions(command);
  addRegistryConfigOptions(command);
  command
    .addHelpText(
      "after",
      `\nExamples:\n  mldeploy info ./mldeploy-data/models/ride-duration\n  mldeploy info models:/ride-duration@production --json\n  mldeploy info ./lin_reg.bin --feature 'PU_DO=PULocationID + "_" + DOLocationID'`,
    )
    .action(async (model: string, flags: Record<string, unknown>) => {
      const bundle = await readBundle(await servableModelPath(model, flags));
      // Loading checks the ONNX graph against the signature, so `info` also validates the bundle.
      const predictor = await (await import("../../model/predictor.js")).loadPredictor(bundle.path);
      const summary = {
        path: bundle.path,
        uuid: bundle.uuid,
        run_id: bundle.runId ?? null,
        created: bundle.createdAt ?? null,
        version: predictor.info.version,
        output: predictor.info.output,
        classes: bundle.mldeploy?.classes ?? null,
        request_schema: predictor.info.inputs,
        signature: bundle.signature ?? null,
        features: bundle.mldeploy?.features ?? null,
        input_example: bundle.mldeploy?.input_example ?? null,
        training: bundle.mldeploy?.training ?? null,
        source: bundle.mldeploy?.source ?? null,
        importer: bundle.mldeploy?.importer ?? null,
        check: bundle.mldeploy?.check ?? null,
        declared_features: bundle.mldeploy?.declared_features ?? null,
        load_ms: Math.round(predictor.info.loadMs),
      };
      await predictor.close();
      if (flags.json) {
        process.stdout.write(JSON.stringify(summary, null, 2) + "\n");
        return;
      }
      // A model from Python is shown by the name it was given, and the bundle it became.
      const converted =
        bundle.mldeploy?.source !== undefined && path.resolve(model) !== bundle.path;
      const classes = bundle.mldeploy?.classes;
      process.stdout.write(
        `model   ${converted ? model : summary.path}\n` +
          (converted ? `bundle  ${summary.path} (converted, cached)\n` : "") +
          `version ${summary.version}\noutput  ${summary.output}\n` +
          (classes ? `classes ${classes.map(String).join(", ")}\n` : "") +
          `\nrequest schema:\n`,
      );
      printTable(
        predictor.info.inputs.map((c) => ({
          name: c.name,
          type: c.type,
          required: c.required === false ? "no" : "yes",
          range: `${c.minimum ?? ""}..${c.maximum ?? ""}`,
        })),
      );
      if (summary.importer && summary.source) {
        const { importer, source } = summary;
        process.stdout.write(
          `\nimported from ${source.file} (${source.format}, sha256 ${source.sha256})\n` +
            `estimator ${importer.estimator}${importer.library ? ` (${importer.library.name} ${importer.library.version ?? ""})`.replace(" )", ")") : ""}\n` +
            `converted by mldeploy ${importer.mldeploy}\n`,
        );
        if (summary.declared_features?.length)
          process.stdout.write(`features  ${summary.declared_features.join("; ")}\n`);
        if (summary.check) process.stdout.write(`check     ${JSON.stringify(summary.check)}\n`);
      }
      if (summary.training)
        process.stdout.write(`\ntraining:\n${JSON.stringify(summary.training, null, 2)}\n`);
    });
}
