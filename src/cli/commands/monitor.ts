import type { Command } from "commander";
import { resolveConfig } from "../../config/load.js";
import { createLogger } from "../../log/logger.js";
import { monitorOptionsSchema, type MonitorOptions } from "../../monitor/job/options.js";
import type { MonitorPass } from "../../monitor/job/run.js";
import { printTable } from "../output.js";
import { addRegistryOptions, withRegistry } from "../registry-settings.js";
import { addSchemaOptions, pickSchemaFlags } from "../schema-options.js";

export function registerMonitor(program: Command): void {
  const command = program
    .command("monitor")
    .description(
      "Compare a model's recent predictions with its training data (drift per column, Evidently's default tests) and with the true values when they arrive (RMSE, MAE, bias), once or on a schedule",
    )
    .option(
      "--config <file>",
      "config file with a `monitor:` section (default ./mldeploy.config.yaml if present)",
    );
  addSchemaOptions(command, monitorOptionsSchema);
  addRegistryOptions(command);
  command.addHelpText(
    "after",
    `
Each pass checks the version the --model URI names now, over the window ending now (or at
--window-end): its predictions from the prediction log of serve and stream (--log-predictions),
or from a batch job's sink (--current). The reference is the training data of the version's
run (default), a period of the log, or a file. Results go to the registry (experiment
"monitoring": a run per pass with report.html; the model's page in the web UI), to
Prometheus (--metrics-port, --pushgateway) and to the terminal.

Examples:
  # the last day of the demo's served predictions against the training data
  mldeploy monitor --model models:/ride-duration@production
  # a batch job's predictions (with their actual_duration) of the last week, every day at 06:00
  mldeploy monitor --model models:/ride-duration@production \\
    --current sqlite:./rides.db --current-table ride_predictions --window 7d \\
    --cron "0 6 * * *" --metrics-port 9103
  # true durations arriving in a table of their own, joined by ride id
  mldeploy monitor --model models:/ride-duration@production --window 1h \\
    --actuals postgres://postgres@127.0.0.1/test --actuals-table rides \\
    --actuals-id-column ride_id --actuals-column actual_duration
  # against last month's predictions instead of the training data; keep a copy of the report
  mldeploy monitor --model models:/ride-duration@production \\
    --reference-from 2026-11-01 --reference-to 2026-12-01 --out ./report.html`,
  );
  command.action(async (flags: Record<string, unknown>) => {
    const options: MonitorOptions = resolveConfig(monitorOptionsSchema, {
      section: "monitor",
      flags: pickSchemaFlags(monitorOptionsSchema, flags),
      configFile: typeof flags.config === "string" ? flags.config : undefined,
    });
    const logger = createLogger({ level: options.logLevel, format: options.logFormat });
    // The handlers go in before the job's modules load (a second or more on a busy machine):
    // a SIGTERM that comes while it starts stops it cleanly, not by the signal's default action.
    const { scheduleControl } = await import("../../schedule/schedule.js");
    const control = scheduleControl();
    const onSignal = (signal: NodeJS.Signals) => {
      if (control.isStopped()) process.exit(1);
      logger.info({ signal }, "stopping after the pass in progress");
      control.stop();
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    const { runMonitor } = await import("../../monitor/job/run.js");
    try {
      await withRegistry(flags, (registry) =>
        runMonitor(options, {
          registry,
          logger,
          control,
          onPass: (pass) => printPass(pass, options.json),
        }),
      );
    } finally {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    }
  });
}

const number = (value: number | null | undefined, digits = 4): string =>
  value === null || value === undefined ? "no data" : Number(value.toPrecision(digits)).toString();

/** One pass for people: a line per column, the verdicts, where the report is. */
function printPass(pass: MonitorPass, json: boolean): void {
  if (json) {
    process.stdout.write(
      JSON.stringify({ ...pass.result, runId: pass.runId, report: pass.reportUri }) + "\n",
    );
    return;
  }
  const { result } = pass;
  const out = process.stdout;
  out.write(
    `${result.model}: ${result.window.from} to ${result.window.to}\n` +
      `  reference: ${result.reference.description}\n` +
      `  current:   ${result.current.description}\n` +
      (result.actuals ? `  actuals:   ${result.actuals.description}\n` : ""),
  );
  for (const report of result.versions) {
    out.write(`\nversion ${report.version}: ${report.rows} predictions\n`);
    if (report.status === "no_data") {
      out.write("  no data: no prediction of this version in the window\n");
      continue;
    }
    printTable(
      report.columns.map((column) => {
        const drift = column.drift;
        return {
          column: column.name,
          kind: column.kind,
          test: drift.status === "ok" ? drift.method : "-",
          score: drift.status === "ok" ? number(drift.score) : `no data (${drift.reason})`,
          threshold: drift.status === "ok" ? String(drift.threshold) : "",
          drift: drift.status === "ok" ? (drift.drifted ? "DRIFT" : "ok") : "",
          missing: number(column.missing.current.share, 3),
          new_values: column.newCategories ? number(column.newCategories.share, 3) : "",
        };
      }),
    );
    const dataset = report.dataset;
    out.write(
      dataset.status === "ok"
        ? `dataset drift: ${dataset.datasetDrift ? "YES" : "no"} (${dataset.driftedColumns} of ${dataset.columns} columns drifted, threshold ${dataset.driftShare * 100} %)\n`
        : "dataset drift: no data\n",
    );
    const error = report.error;
    if (error) {
      out.write(
        error.matched === 0
          ? `error: no data (no prediction of the window has an actual value yet)\n`
          : `error over ${error.matched} of ${error.predictions} predictions with an actual: RMSE ${number(error.rmse)}, MAE ${number(error.mae)}, bias ${number(error.bias)}` +
              (error.training
                ? `; training ${error.training.metric} ${number(error.training.rmse)}${error.regressed ? ` — REGRESSED (above ×${error.factor})` : ""}`
                : "") +
              (error.targetRange && error.outOfRange
                ? ` (${error.outOfRange} actuals outside ${error.targetRange.filter} left out)`
                : "") +
              "\n",
      );
    }
  }
  for (const skipped of result.skipped) out.write(`skipped ${skipped.file}: ${skipped.reason}\n`);
  if (pass.reportUri) out.write(`\nreport: ${pass.reportUri}\n`);
  if (pass.out) out.write(`report copy: ${pass.out}\n`);
}
