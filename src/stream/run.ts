import path from "node:path";
import { openPredictionLog } from "../monitor/prediction-log/writer.js";
import { defaultPredictionLogDir } from "../monitor/prediction-log/options.js";
import type { Logger } from "../log/logger.js";
import { serveMetrics } from "../metrics/http.js";
import { createStreamMetrics, pollLag } from "./metrics.js";
import { ModelHolder } from "../model/model-holder.js";
import { importCacheDir, importedModelName, servableBundle } from "../import/servable.js";
import { loadPredictor } from "../model/predictor.js";
import type { Predictor } from "../model/types.js";
import { reportsHeartbeats, startDeploymentReporter } from "../registry/deployments/reporter.js";
import { followModel, resolveFollowedModel } from "../registry/follow-model.js";
import type { LocalModel, Registry } from "../registry/registry.js";
import { runConsumer, type ConsumerStats } from "./consumer.js";
import { openStreamSink, openStreamSource } from "./endpoints.js";
import type { StreamOptions } from "./options.js";
import type { StreamSink } from "./types.js";

export interface RunStreamDeps {
  registry: Registry;
  logger: Logger;
  /** SIGTERM: the batch in progress is published and acknowledged, then the loop ends. */
  shouldStop: () => boolean;
  /** How often the lag gauges of /metrics are refreshed (default 5 s; tests use less). */
  lagIntervalMs?: number;
}

/** `mldeploy stream`: resolves the model, opens the transports, runs the consumer loop. */
export async function runStream(
  options: StreamOptions,
  deps: RunStreamDeps,
): Promise<ConsumerStats> {
  const { logger } = deps;
  const model = await deps.registry.resolveModel(options.model);
  // A model from the Python world is converted once (cached by content), here and on a switch.
  const servable = (local: LocalModel) =>
    servableBundle(local.path, {
      features: options.feature,
      output: options.output,
      cacheDir: importCacheDir(deps.registry.dataDir),
      uri: options.model,
      logger,
    });
  const predictor = new ModelHolder(
    await loadPredictor(await servable(model), {
      name: model.name ?? importedModelName(model.path),
      version: model.version,
    }),
  );
  const opened: Array<{ close(): Promise<void> }> = [predictor];
  try {
    const source = await openStreamSource(options.source, {
      group: options.group,
      consumer: options.consumer,
      dataDir: deps.registry.dataDir,
      logger,
    });
    opened.push(source);
    const sink = await openStreamSink(options.sink, { logger });
    opened.push(sink);
    let deadLetter: StreamSink | undefined;
    if (options.deadLetter !== undefined) {
      deadLetter = await openStreamSink(options.deadLetter, { logger });
      opened.push(deadLetter);
      await deadLetter.open();
    }
    await source.open();
    await sink.open();
    logger.info(
      {
        source: source.description,
        sink: sink.description,
        group: options.group,
        version: predictor.current.info.version,
      },
      `consuming ${source.description} as group ${options.group}, predicting with version ${predictor.current.info.version}`,
    );
    const metrics = options.metricsPort === undefined ? undefined : createStreamMetrics();
    if (metrics) {
      const served = await serveMetrics(
        metrics.registry,
        options.metricsPort!,
        options.metricsHost,
      );
      opened.push(served);
      logger.info({ metrics: served.url }, `metrics at ${served.url}`);
      const lag = pollLag(source, metrics, { intervalMs: deps.lagIntervalMs, logger });
      opened.push({ close: () => lag.stop() });
    }
    // Events taken from the source, for the heartbeat's rate.
    let received = 0;
    const reporter =
      options.heartbeatIntervalMs > 0 && reportsHeartbeats(options.model)
        ? startDeploymentReporter({
            store: deps.registry.store,
            mode: "stream",
            endpoint: `${source.description} (group ${options.group})`,
            modelUri: options.model,
            modelName: model.name,
            modelVersion: predictor.current.info.version,
            intervalMs: options.heartbeatIntervalMs,
            count: () => received,
            logger,
          })
        : undefined;
    if (reporter) opened.push({ close: () => reporter.stop() });
    if (model.movable && options.pollIntervalMs > 0) {
      const stop = followModel(options.model, model, options.pollIntervalMs, {
        resolve: (uri) => resolveFollowedModel(deps.registry, uri),
        swap: (next) =>
          servable(next).then(
            async (bundle) => {
              const switched = await switchModel(
                predictor,
                { ...next, path: bundle },
                { logger, metrics },
              );
              if (switched) reporter?.running(next.version);
              return switched;
            },
            (error: unknown) => {
              metrics?.countReload("failure");
              logger.error(
                { err: error, version: next.version },
                `could not convert model version ${next.version}; still predicting with the current one`,
              );
              return false;
            },
          ),
        // A version whose files are gone: logged once by followModel, counted here.
        failed: () => metrics?.countReload("failure"),
        logger,
      });
      opened.push({ close: async () => stop() });
    }
    const predictionLog = openPredictionLog(options, {
      mode: "stream",
      defaultDir: path.resolve(defaultPredictionLogDir(deps.registry.dataDir)),
      logger,
      registry: metrics?.registry,
    });
    // Closed after the consumer stopped (opened closes in reverse): the last batches are written.
    if (predictionLog) opened.push(predictionLog);
    const stats = await runConsumer({
      source,
      sink,
      deadLetter,
      predictor,
      format: {
        inputField: options.inputField,
        idField: options.idField,
        predictionField: options.predictionField,
        modelLabel: options.modelLabel,
      },
      batchSize: options.batchSize,
      maxWaitMs: options.maxWaitMs,
      logger,
      shouldStop: deps.shouldStop,
      onPredicted:
        predictionLog &&
        ((info, batch, values, ids, probabilities) =>
          predictionLog.record(info, batch, values, ids, probabilities)),
      onBatch: (batch) => {
        received += batch.received;
        metrics?.observeBatch(batch);
      },
    });
    logger.info(
      { ...stats },
      `stopped: ${stats.predicted} predicted, ${stats.deadLettered} dead-lettered`,
    );
    return stats;
  } finally {
    for (const resource of opened.reverse()) await resource.close().catch(() => undefined);
  }
}

/**
 * Loads the version an alias moved to and has the next batches predict with it. A version that
 * fails to load is logged and counted; the consumer goes on with the model it has.
 */
async function switchModel(
  holder: ModelHolder<Predictor>,
  next: LocalModel,
  io: { logger: Logger; metrics?: { countReload(result: "success" | "failure"): void } },
): Promise<boolean> {
  try {
    const loaded = await loadPredictor(next.path, { name: next.name, version: next.version });
    const previous = holder.current.info.version;
    // Closing the replaced version cannot fail the switch (it is closed after its last batch).
    holder.replace(loaded).catch(() => undefined);
    io.metrics?.countReload("success");
    io.logger.info(
      { from: previous, to: loaded.info.version },
      `now predicting with version ${loaded.info.version} (was ${previous})`,
    );
    return true;
  } catch (error) {
    io.metrics?.countReload("failure");
    io.logger.error(
      { err: error, version: next.version },
      `version ${next.version} could not be loaded; predicting on with version ${holder.current.info.version}`,
    );
    return false;
  }
}
