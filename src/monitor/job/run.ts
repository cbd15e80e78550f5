/**
 * `mldeploy monitor`: one pass (or one per slot of a schedule) comparing the current window of
 * a model version's predictions with a reference, recorded in the registry (results table and a
 * run in experiment `monitoring` holding report.html), exported as Prometheus metrics, and
 * returned for the CLI to print.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { UserError } from "../../config/errors.js";
import type { DuckDBConnection } from "@duckdb/node-api";
import { closeDuckDB, openDuckDB, sqlIdentifier, type DuckDBEngine } from "../../duckdb/index.js";
import { importCacheDir, importedModelName, servableBundle } from "../../import/servable.js";
import type { Logger } from "../../log/logger.js";
import { startJobReporting, type JobReporting } from "../../metrics/job-reporting.js";
import { loadPredictor } from "../../model/predictor.js";
import type { ModelInfo, Predictor } from "../../model/types.js";
import type { LocalModel, Registry } from "../../registry/registry.js";
import {
  durationMs,
  runOnSchedule,
  scheduleFromSettings,
  scheduleControl,
  type ScheduleControl,
} from "../../schedule/schedule.js";
import { defaultPredictionLogDir } from "../prediction-log/options.js";
import { materializeLogWindow } from "../prediction-log/sinks/index.js";
import { renderReport } from "../report/index.js";
import { createMonitorMetrics, monitorPusher, type MonitorMetrics } from "./metrics.js";
import { referenceSource, type MonitorOptions } from "./options.js";
import { resultRows } from "./result-rows.js";
import {
  loadActuals,
  loadBatchWindow,
  loadFileWindow,
  loadLogWindow,
  loadTrainingReference,
  monitoredColumns,
  trainingMetric,
  trainingTargetRange,
  type SourceContext,
  type WindowBounds,
} from "./sources/index.js";
import { computeVersionReport } from "./stats/index.js";
import {
  MONITOR_RESULT_FORMAT,
  MONITORING_EXPERIMENT,
  REPORT_ARTIFACT,
  RESULT_ARTIFACT,
  type ActualsFrame,
  type FrameColumn,
  type MonitorResult,
  type WindowFrame,
} from "./types.js";

export interface RunMonitorDeps {
  registry: Registry;
  logger: Logger;
  /** Stops a scheduled monitor after the pass in progress. */
  control?: ScheduleControl;
  /** Called after every pass (the CLI prints it). */
  onPass?: (pass: MonitorPass) => void;
}

/** What one pass produced. */
export interface MonitorPass {
  result: MonitorResult;
  /** The run in experiment `monitoring` holding the report (absent with --dry-run). */
  runId?: string;
  /** Where the report is: the run's artifact URI, and --out when given. */
  reportUri?: string;
  out?: string;
}

/** Runs the monitor once, or on --every/--cron until stopped; returns the passes made. */
export async function runMonitor(
  options: MonitorOptions,
  deps: RunMonitorDeps,
): Promise<MonitorPass[]> {
  const schedule = scheduleFromSettings(options);
  if (schedule !== undefined && options.windowEnd !== undefined)
    throw new UserError(
      'invalid setting "windowEnd": a scheduled monitor checks the window ending at each pass; give --window-end only to a single pass',
    );
  const reporting = await startReporting(options, deps.logger);
  const passes: MonitorPass[] = [];
  let count = 0;
  const once = async () => {
    count++;
    const started = performance.now();
    try {
      const pass = await monitorOnce(options, deps, reporting.metrics);
      passes.push(pass);
      reporting.metrics?.passEnded("FINISHED", performance.now() - started);
      deps.onPass?.(pass);
    } catch (error) {
      reporting.metrics?.passEnded("FAILED", performance.now() - started);
      if (schedule === undefined || (count === 1 && error instanceof UserError)) throw error;
      deps.logger.error(
        { err: error },
        `monitoring pass failed: ${(error as Error).message}; the next slot tries again`,
      );
    } finally {
      await reporting.push();
    }
  };
  try {
    if (schedule === undefined) await once();
    else await runOnSchedule(schedule, once, deps.control ?? scheduleControl(), deps.logger);
  } finally {
    await reporting.close();
  }
  return passes;
}

/** The model the URI names now, with what the log and the registry call it. */
interface MonitoredModel {
  local: LocalModel;
  info: ModelInfo;
  /** Open for the pass (the training reference predicts with it); closed at its end. */
  predictor: Predictor;
  /** The name the prediction log and batch sinks record (registry name, else the bundle's). */
  name: string;
  version: string;
}

async function resolveMonitoredModel(
  options: MonitorOptions,
  registry: Registry,
  logger: Logger,
): Promise<MonitoredModel> {
  const local = await registry.resolveModel(options.model);
  const servable = await servableBundle(local.path, {
    cacheDir: importCacheDir(registry.dataDir),
    uri: options.model,
    logger,
  });
  const name = local.name ?? importedModelName(local.path);
  const predictor = await loadPredictor(servable, { name, version: local.version, logger });
  return { local, info: predictor.info, predictor, name, version: predictor.info.version };
}

async function monitorOnce(
  options: MonitorOptions,
  deps: RunMonitorDeps,
  metrics: MonitorMetrics | undefined,
): Promise<MonitorPass> {
  const { registry, logger } = deps;
  const end = options.windowEnd !== undefined ? new Date(options.windowEnd) : new Date();
  const window: WindowBounds = {
    from: new Date(end.getTime() - durationMs(options.window)),
    to: end,
  };
  const scratch = await mkdtemp(path.join(tmpdir(), "mldeploy-monitor-"));
  let engine: Promise<DuckDBEngine> | undefined;
  // Every model version loaded for the pass: their sessions are closed at its end.
  const models: MonitoredModel[] = [];
  try {
    const model = await resolveMonitoredModel(options, registry, logger);
    models.push(model);
    engine = openDuckDB({
      memoryLimit: options.memoryLimit,
      tempDirectory: path.join(scratch, "spill"),
    });
    const { connection } = await engine;
    await connection.run("SET TimeZone = 'UTC'");
    const context: SourceContext = { connection, logger };
    const columns = monitoredColumns(model.info);
    logger.info(
      {
        model: options.model,
        version: model.version,
        from: window.from.toISOString(),
        to: window.to.toISOString(),
      },
      `monitoring ${model.name} version ${model.version}, ${window.from.toISOString()} to ${window.to.toISOString()}`,
    );
    const loaded = await loadCurrent(options, context, model, columns, window, registry, scratch);
    const reference = await loadReference(
      options,
      context,
      model,
      columns,
      registry,
      scratch,
      "reference",
    );
    const actuals = options.actuals
      ? await loadActuals(context, {
          table: "actuals",
          url: options.actuals,
          sourceTable: options.actualsTable,
          idColumn: options.actualsIdColumn,
          valueColumn: options.actualsColumn ?? `actual_${model.info.output}`,
        })
      : loaded.actuals;
    await addCombinedColumns(connection, loaded.frame, options.combine);
    await addCombinedColumns(connection, reference.frame, options.combine);
    const kinds = declaredKinds(options, columns);
    const reports = [];
    for (const version of versionsToCheck(options, model, loaded.frame)) {
      // Each version against its own training data (another version's is another model's).
      const own =
        version === model.version
          ? { model, reference }
          : await otherVersion(
              options,
              context,
              model,
              version,
              columns,
              registry,
              scratch,
              models,
            );
      if (own.reference !== reference)
        await addCombinedColumns(connection, own.reference.frame, options.combine);
      const training =
        own.reference.training !== undefined
          ? own.reference.training
          : await trainingMetric(registry, own.model.local.runId ?? own.model.info.runId);
      const targetRange =
        actuals && options.actualsRange === "training"
          ? await trainingTargetRange(own.model.local.path)
          : undefined;
      reports.push(
        await computeVersionReport(connection, {
          reference: own.reference.frame,
          current: loaded.frame,
          version,
          actuals,
          training,
          driftShare: options.driftShare,
          rmseFactor: options.rmseFactor,
          targetRange,
          kinds,
        }),
      );
    }
    const result: MonitorResult = {
      format: MONITOR_RESULT_FORMAT,
      model: model.name,
      modelUri: options.model,
      generatedAt: new Date().toISOString(),
      window: { from: window.from.toISOString(), to: window.to.toISOString() },
      reference: {
        kind: reference.frame.kind,
        description: reference.frame.description,
        rows: reference.frame.rows,
        ...(reference.runId ? { runId: reference.runId } : {}),
      },
      current: {
        kind: loaded.frame.kind,
        description: loaded.frame.description,
        rows: loaded.frame.rows,
      },
      ...(actuals ? { actuals: { description: actuals.description, rows: actuals.rows } } : {}),
      versions: reports,
      skipped: [...loaded.frame.skipped, ...reference.frame.skipped],
      settings: { driftShare: options.driftShare, rmseFactor: options.rmseFactor },
    };
    metrics?.observe(result);
    const html = renderReport(result);
    const pass: MonitorPass = { result };
    if (options.out !== undefined) {
      await writeFile(options.out, html);
      pass.out = path.resolve(options.out);
    }
    if (!options.dryRun) await record(pass, html, model, registry, scratch);
    return pass;
  } finally {
    for (const each of models) await each.predictor.close().catch(() => {});
    await closeDuckDB(engine).catch(() => {});
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The URI's version, or with --all-versions every version that predicted in the window. */
function versionsToCheck(
  options: MonitorOptions,
  model: MonitoredModel,
  current: WindowFrame,
): string[] {
  if (!options.allVersions || current.versions.length === 0) return [model.version];
  return current.versions;
}

/**
 * Another version of the model (--all-versions) with its own reference: its training data
 * when the reference is `training`, else the same period or file as the URI's version.
 */
async function otherVersion(
  options: MonitorOptions,
  context: SourceContext,
  model: MonitoredModel,
  version: string,
  columns: FrameColumn[],
  registry: Registry,
  scratch: string,
  opened: MonitoredModel[],
): Promise<{ model: MonitoredModel; reference: Awaited<ReturnType<typeof loadReference>> }> {
  if (model.local.name === undefined || !/^\d+$/.test(version))
    throw new UserError(
      `invalid setting "allVersions": version ${version} of ${model.name} is in the window, but ${options.model} is not a registered model whose versions can be loaded`,
    );
  const other = await resolveMonitoredModel(
    { ...options, model: `models:/${model.local.name}/${version}` },
    registry,
    context.logger,
  );
  opened.push(other);
  const table = `reference_v${version}`;
  const reference = await loadReference(options, context, other, columns, registry, scratch, table);
  return { model: other, reference };
}

/**
 * --combine NAME=A,B: a categorical column A_B added to a window table (NULL when a part is
 * missing) and monitored like the others, so unseen combinations (zone pairs) are counted.
 */
async function addCombinedColumns(
  connection: DuckDBConnection,
  frame: WindowFrame,
  combine: readonly string[],
): Promise<void> {
  for (const spec of combine) {
    const [name, list] = spec.split("=");
    const parts = list.split(",");
    const known = frame.columns.map((c) => c.name);
    if (known.includes(name))
      throw new UserError(`invalid setting "combine": ${name} is already a column of the model`);
    const missing = parts.filter((part) => !known.includes(part));
    if (missing.length > 0)
      throw new UserError(
        `invalid setting "combine": ${spec}: ${frame.description} has no column ${missing.join(", ")} (its columns: ${known.join(", ")})`,
      );
    const text = (part: string) => `CAST(${sqlIdentifier(part)} AS VARCHAR)`;
    const expression = `CASE WHEN ${parts.map((p) => `${sqlIdentifier(p)} IS NULL`).join(" OR ")} THEN NULL ELSE ${parts.map(text).join(" || '_' || ")} END`;
    await connection.run(
      `CREATE OR REPLACE TABLE ${sqlIdentifier(frame.table)} AS SELECT *, ${expression} AS ${sqlIdentifier(name)} FROM ${sqlIdentifier(frame.table)}`,
    );
    // Inputs first, the prediction last (the order the report and the table show).
    const at = frame.columns.findIndex((c) => c.role === "prediction");
    const column: FrameColumn = { name, role: "input", dtype: "string" };
    if (at < 0) frame.columns.push(column);
    else frame.columns.splice(at, 0, column);
  }
}

/** --categorical / --numerical, checked against the model's columns (a typo is named). */
function declaredKinds(
  options: MonitorOptions,
  columns: FrameColumn[],
): Record<string, "categorical" | "numerical"> {
  const kinds: Record<string, "categorical" | "numerical"> = {};
  const known = columns.map((c) => c.name);
  for (const [setting, kind] of [
    ["categorical", "categorical"],
    ["numerical", "numerical"],
  ] as const)
    for (const name of options[setting]) {
      if (!known.includes(name))
        throw new UserError(
          `invalid setting "${setting}": the model has no column "${name}" (its columns: ${known.join(", ")})`,
        );
      kinds[name] = kind;
    }
  return kinds;
}

async function loadCurrent(
  options: MonitorOptions,
  context: SourceContext,
  model: MonitoredModel,
  columns: FrameColumn[],
  window: WindowBounds,
  registry: Registry,
  scratch: string,
): Promise<{ frame: WindowFrame; actuals?: ActualsFrame }> {
  if (options.current === "log") {
    const dir = await logDir(options, model, window, registry, scratch, "current", context.logger);
    const frame = await loadLogWindow(context, {
      table: "current",
      dir,
      model: model.name,
      window,
      version: options.allVersions ? undefined : model.version,
      columns,
      maxRows: options.maxRows,
    });
    return { frame };
  }
  return loadBatchWindow(context, {
    table: "current",
    sink: options.current,
    sinkTable: options.currentTable,
    idColumn: options.idColumn,
    model: model.name,
    output: model.info.output,
    window,
    version: options.allVersions ? undefined : model.version,
    columns,
    actualColumn: options.actualsColumn,
    actualsTable: "actuals",
    maxRows: options.maxRows,
  });
}

async function loadReference(
  options: MonitorOptions,
  context: SourceContext,
  model: MonitoredModel,
  columns: FrameColumn[],
  registry: Registry,
  scratch: string,
  table: string,
): Promise<{
  frame: WindowFrame;
  runId?: string;
  training?: { metric: string; rmse: number } | null;
}> {
  const source = referenceSource(options);
  switch (source.kind) {
    case "training": {
      const loaded = await loadTrainingReference(context, {
        table,
        registry,
        model: model.local,
        predictor: model.predictor,
        columns,
        maxRows: options.maxRows,
      });
      return { frame: loaded, runId: loaded.runId, training: loaded.training };
    }
    case "log": {
      const period = { from: source.from, to: source.to };
      const dir = await logDir(
        options,
        model,
        period,
        registry,
        scratch,
        "reference",
        context.logger,
      );
      const frame = await loadLogWindow(context, {
        table,
        dir,
        model: model.name,
        window: period,
        columns,
        maxRows: options.maxRows,
      });
      return { frame };
    }
    case "table": {
      const { frame } = await loadBatchWindow(context, {
        table,
        sink: source.url,
        sinkTable: source.table,
        idColumn: options.idColumn,
        model: model.name,
        output: model.info.output,
        columns,
        maxRows: options.maxRows,
      });
      return { frame };
    }
    case "file":
      return {
        frame: await loadFileWindow(context, {
          table,
          path: source.path,
          columns,
          maxRows: options.maxRows,
        }),
      };
  }
}

/** The local directory holding the log's parts for a window: fetched first from S3/PostgreSQL. */
async function logDir(
  options: MonitorOptions,
  model: MonitoredModel,
  window: WindowBounds,
  registry: Registry,
  scratch: string,
  side: string,
  logger: Logger,
): Promise<string> {
  if (options.logPredictionsTo === undefined)
    return path.resolve(options.logPredictionsDir ?? defaultPredictionLogDir(registry.dataDir));
  const fetched = await materializeLogWindow(
    options.logPredictionsTo,
    { model: model.name, from: window.from, to: window.to },
    path.join(scratch, `log-${side}`),
    logger,
  );
  return fetched.dir;
}

/** The pass as a run of experiment `monitoring` (report and result as artifacts) and table rows. */
async function record(
  pass: MonitorPass,
  html: string,
  model: MonitoredModel,
  registry: Registry,
  scratch: string,
): Promise<void> {
  const { result } = pass;
  const report = result.versions[0];
  const run = await registry.startRun({
    experiment: MONITORING_EXPERIMENT,
    name: `${model.name} v${model.version} ${result.window.to}`,
    tags: {
      model: model.name,
      model_version: model.version,
      model_uri: result.modelUri,
      window_start: result.window.from,
      window_end: result.window.to,
    },
  });
  try {
    await run.logParams({
      model_uri: result.modelUri,
      reference: result.reference.kind,
      reference_source: result.reference.description.slice(0, 500),
      current_source: result.current.description.slice(0, 500),
      drift_share_threshold: result.settings.driftShare,
      rmse_factor: result.settings.rmseFactor,
    });
    const numbers: Record<string, number> = { current_rows: report.rows };
    numbers.reference_rows = result.reference.rows;
    if (report.dataset.status === "ok") {
      numbers.drift_share = report.dataset.share;
      numbers.dataset_drift = report.dataset.datasetDrift ? 1 : 0;
    }
    for (const [key, value] of Object.entries({
      rmse: report.error?.rmse,
      mae: report.error?.mae,
      bias: report.error?.bias,
      matched: report.error?.matched,
    }))
      if (value !== null && value !== undefined && Number.isFinite(value)) numbers[key] = value;
    await run.logMetrics(numbers);
    const reportFile = path.join(scratch, REPORT_ARTIFACT);
    const resultFile = path.join(scratch, RESULT_ARTIFACT);
    await writeFile(reportFile, html);
    await writeFile(resultFile, JSON.stringify(result, null, 2));
    pass.reportUri = await run.logArtifact(reportFile, REPORT_ARTIFACT);
    await run.logArtifact(resultFile, RESULT_ARTIFACT);
    await registry.store.putMonitorResults(resultRows(result, run.id));
    await run.end("FINISHED");
    pass.runId = run.id;
  } catch (error) {
    await run.end("FAILED").catch(() => {});
    throw error;
  }
}

/** The monitor's metrics, served on --metrics-port and/or pushed to --pushgateway after each pass. */
function startReporting(
  options: MonitorOptions,
  logger: Logger,
): Promise<JobReporting<MonitorMetrics>> {
  return startJobReporting(
    options,
    createMonitorMetrics,
    (url, registry) => monitorPusher(url, options.model, registry, logger),
    logger,
  );
}
