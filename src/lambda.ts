/**
 * AWS Lambda handler for Kinesis events: `dist/lambda.handler` (see docs/lambda.md).
 *
 * The port of the original Python lambda_function.py: each record's base64 `kinesis.data`
 * is a ride event, the function predicts them and puts the prediction events to the stream
 * named by PREDICTIONS_STREAM_NAME (not when TEST_RUN=True), and returns
 * `{"predictions": [...]}`. Predicting goes through the stream consumer's own batch code
 * (processBatch in src/stream/consumer.ts): same parsing, validation, model call and output
 * format as `mldeploy stream`.
 *
 * Environment:
 *   MODEL_URI                s3://bucket/prefix/model, models:/name@alias (with
 *                            MLDEPLOY_REGISTRY_URL), runs:/…, or a path in the image
 *   PREDICTIONS_STREAM_NAME  output stream (a name, or a kinesis:// URL)
 *   DEAD_LETTER_STREAM_NAME  optional: where bad events go (a name or a kinesis:// URL)
 *   TEST_RUN=True            predict and return, put nothing to any stream
 *   MLDEPLOY_INPUT_FIELD, MLDEPLOY_ID_FIELD, MLDEPLOY_PREDICTION_FIELD, MLDEPLOY_MODEL_LABEL
 *                            the event shapes, as `mldeploy stream` --input-field … (default:
 *                            the original system's ride events)
 *   AWS_REGION, AWS_ENDPOINT_URL_KINESIS …  as for every AWS SDK client
 *
 * Bad records (not JSON, no "ride", a value the model's schema refuses, no data) do not fail
 * the batch: retrying them cannot help, and Lambda would retry the whole shard batch forever
 * (or until the records expire), blocking the shard. They are logged in full (error level),
 * put to DEAD_LETTER_STREAM_NAME when set, and listed under "rejected" in the response.
 * Failures of the infrastructure (the model cannot be loaded, Kinesis refuses the
 * predictions) throw: Lambda retries the batch, so no event is lost (at-least-once).
 */
import { UserError } from "./config/errors.js";
import { createLogger, type Logger } from "./log/logger.js";
import { importCacheDir, importedModelName, servableBundle } from "./import/servable.js";
import { loadPredictor } from "./model/predictor.js";
import type { Predictor } from "./model/types.js";
import { Registry, registryOptionsFromEnv } from "./registry/registry.js";
import { processBatch } from "./stream/consumer.js";
import { ORIGINAL_FORMAT, encodeDeadLetter, type EventFormat } from "./stream/events.js";
import { openKinesisSink } from "./stream/kinesis/index.js";
import { messagesFromEvent } from "./stream/kinesis/lambda-event.js";
import type { StreamSink, StreamSource } from "./stream/types.js";

export type { KinesisStreamEvent, KinesisEventRecord } from "./stream/kinesis/lambda-event.js";

export interface PredictionEvent {
  model: string;
  version: string;
  prediction: Record<string, unknown>;
}

/** A bad record: the dead letter written for it (why, where from, the original payload). */
export interface RejectedEvent {
  error: string;
  source: string;
  position: string;
  partition?: string;
  payload: string;
  encoding: "utf8" | "base64";
  failedAt: string;
}

export interface HandlerResult {
  predictions: PredictionEvent[];
  /** Present when some records were bad (see the module comment). */
  rejected?: RejectedEvent[];
}

/** What one container keeps between invocations: the model and the open output streams. */
interface Container {
  logger: Logger;
  predictor: Predictor;
  sinks: Map<string, Promise<StreamSink>>;
}

let container: Promise<Container> | undefined;

/** Loaded on the first invocation, then reused; a failed load is retried by the next one. */
function containerState(env: NodeJS.ProcessEnv): Promise<Container> {
  container ??= loadContainer(env).catch((err: unknown) => {
    container = undefined;
    throw err;
  });
  return container;
}

async function loadContainer(env: NodeJS.ProcessEnv): Promise<Container> {
  const logger = createLogger({ base: { component: "lambda" } });
  const uri = env.MODEL_URI?.trim();
  if (!uri) {
    throw new UserError(
      "MODEL_URI is not set: give the model as s3://bucket/path, models:/name@alias or a path",
    );
  }
  const options = registryOptionsFromEnv(env);
  // Only /tmp is writable in Lambda: the model cache (and an embedded registry) go there.
  if (options.dataDir === undefined && env.AWS_LAMBDA_FUNCTION_NAME !== undefined) {
    options.dataDir = "/tmp/mldeploy-data";
  }
  const started = performance.now();
  const registry = await Registry.open(options);
  let predictor: Predictor;
  try {
    const model = await registry.resolveModel(uri);
    // A model from the Python world: MLDEPLOY_FEATURE (one declaration per line), MLDEPLOY_OUTPUT.
    const bundle = await servableBundle(model.path, {
      features: (env.MLDEPLOY_FEATURE ?? "")
        .split("\n")
        .map((line) => line.trim())
        .filter((line) => line !== ""),
      output: env.MLDEPLOY_OUTPUT?.trim() || undefined,
      cacheDir: importCacheDir(registry.dataDir),
      uri,
      logger,
    });
    predictor = await loadPredictor(bundle, {
      name: model.name ?? importedModelName(model.path),
      version: model.version,
      logger,
    });
  } finally {
    await registry.close();
  }
  logger.info(
    { model: uri, version: predictor.info.version, ms: Math.round(performance.now() - started) },
    `loaded ${uri} (version ${predictor.info.version})`,
  );
  return { logger, predictor, sinks: new Map() };
}

/** The Kinesis sink for a stream name or kinesis:// URL, opened once per container. */
function sinkFor(state: Container, nameOrUrl: string): Promise<StreamSink> {
  const url = nameOrUrl.startsWith("kinesis://") ? nameOrUrl : `kinesis://${nameOrUrl}`;
  let sink = state.sinks.get(url);
  if (sink === undefined) {
    sink = (async () => {
      const opened = openKinesisSink(url);
      await opened.open();
      return opened;
    })();
    sink.catch(() => state.sinks.delete(url));
    state.sinks.set(url, sink);
  }
  return sink;
}

/** Keeps what processBatch publishes (for the response) and passes it on, if anywhere. */
class CollectingSink implements StreamSink {
  readonly published: Uint8Array[] = [];

  constructor(
    readonly description: string,
    private readonly forward?: StreamSink,
  ) {}

  async open(): Promise<void> {}

  async publish(messages: Array<{ data: Uint8Array; key?: string }>): Promise<void> {
    if (this.forward) await this.forward.publish(messages);
    for (const message of messages) this.published.push(message.data);
  }

  async close(): Promise<void> {}
}

/**
 * The event's records, as processBatch sees its source. Nothing to acknowledge: Lambda moves
 * the shard's position itself when the handler returns, and retries the batch when it throws.
 */
function eventSource(description: string): StreamSource {
  return {
    description,
    open: async () => {},
    read: async () => [],
    ack: async () => {},
    close: async () => {},
  };
}

/** The event shapes from the environment, as `mldeploy stream` reads them; the original's by default. */
function eventFormat(env: NodeJS.ProcessEnv): EventFormat {
  return {
    inputField: env.MLDEPLOY_INPUT_FIELD ?? ORIGINAL_FORMAT.inputField,
    idField: env.MLDEPLOY_ID_FIELD ?? ORIGINAL_FORMAT.idField,
    predictionField: env.MLDEPLOY_PREDICTION_FIELD || ORIGINAL_FORMAT.predictionField,
    modelLabel: env.MLDEPLOY_MODEL_LABEL || ORIGINAL_FORMAT.modelLabel,
  };
}

const decoder = new TextDecoder();
const parse = <T>(data: Uint8Array): T => JSON.parse(decoder.decode(data)) as T;

export async function handler(event: unknown): Promise<HandlerResult> {
  const env = process.env;
  const state = await containerState(env);
  const { logger, predictor } = state;
  const { messages, broken, source } = messagesFromEvent(event);

  const testRun = env.TEST_RUN === "True" || env.TEST_RUN === "true" || env.TEST_RUN === "1";
  const output = env.PREDICTIONS_STREAM_NAME?.trim();
  if (!testRun && !output) {
    throw new UserError(
      "PREDICTIONS_STREAM_NAME is not set: name the Kinesis stream for the predictions (or set TEST_RUN=True)",
    );
  }
  const deadLetterName = env.DEAD_LETTER_STREAM_NAME?.trim();
  const predictions = new CollectingSink(
    output ?? "(test run)",
    testRun ? undefined : await sinkFor(state, output!),
  );
  const deadLetters = new CollectingSink(
    deadLetterName ?? "(response only)",
    testRun || !deadLetterName ? undefined : await sinkFor(state, deadLetterName),
  );

  const report = await processBatch(messages, {
    source: eventSource(source),
    sink: predictions,
    deadLetter: deadLetters,
    predictor,
    format: eventFormat(env),
    batchSize: Math.max(1, messages.length),
    maxWaitMs: 0,
    logger,
  });
  // Records without data never reached processBatch: the same dead-letter shape for them.
  if (broken.length > 0) {
    const letters = broken.map((b) => ({
      data: encodeDeadLetter(new Uint8Array(0), b.error, {
        source,
        position: b.position,
        partition: b.partition,
      }),
    }));
    await deadLetters.publish(letters);
  }

  const rejected = deadLetters.published.map((data) => parse<RejectedEvent>(data));
  for (const letter of rejected) logger.error({ deadLetter: letter }, "bad event");
  logger.info(
    {
      received: messages.length + broken.length,
      predicted: report.predicted,
      rejected: rejected.length,
    },
    `${report.predicted} predicted, ${rejected.length} rejected${testRun ? " (TEST_RUN: nothing put)" : ""}`,
  );
  const result: HandlerResult = {
    predictions: predictions.published.map((data) => parse<PredictionEvent>(data)),
  };
  if (rejected.length > 0) result.rejected = rejected;
  return result;
}
