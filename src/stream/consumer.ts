import type { Logger } from "../log/logger.js";
import { ModelHolder } from "../model/model-holder.js";
import {
  noPredictions,
  type ColumnarBatch,
  type ModelInfo,
  type PredictionValues,
  type Predictor,
} from "../model/types.js";
import { validateRecords } from "../model/validate.js";
import { decodeEvent, encodeDeadLetter, predictionEncoder, type EventFormat } from "./events.js";
import type { StreamMessage, StreamSink, StreamSource } from "./types.js";

export interface ConsumerOptions {
  source: StreamSource;
  sink: StreamSink;
  /** Bad events go here; without one they are logged in full (never dropped silently). */
  deadLetter?: StreamSink;
  /** A holder when the model may be replaced while running (a followed registry alias). */
  predictor: Predictor | ModelHolder<Predictor>;
  format: EventFormat;
  batchSize: number;
  maxWaitMs: number;
  logger: Logger;
  /** Checked between batches: the batch in progress is published and acknowledged first. */
  shouldStop: () => boolean;
  /** Called after each acknowledged batch (metrics, tests). */
  onBatch?: (batch: BatchReport) => void;
  /** Called with each predicted batch and its events' ids (the prediction log). */
  onPredicted?: (
    info: ModelInfo,
    batch: ColumnarBatch,
    values: PredictionValues,
    ids: ReadonlyArray<string | undefined>,
    /** A classifier's probabilities, row-major [rows, classes]. */
    probabilities?: Float64Array,
  ) => void;
  /** Batches read and not yet acknowledged, at most (default DEFAULT_MAX_IN_FLIGHT). */
  maxInFlight?: number;
}

export interface BatchReport {
  received: number;
  predicted: number;
  deadLettered: number;
  /** From the batch's arrival (read) to its acknowledgement. */
  ms: number;
}

export interface ConsumerStats {
  received: number;
  predicted: number;
  deadLettered: number;
  batches: number;
}

/**
 * Batches read but not yet acknowledged, at most. Three keep every stage busy (one batch
 * being read, one predicted, one publishing or acknowledging) without holding many events
 * that a crash would hand back for redelivery.
 */
export const DEFAULT_MAX_IN_FLIGHT = 3;

/**
 * The consumer loop shared by every transport: read a batch, predict it in one call, publish
 * the predictions and dead letters, and acknowledge the inputs only once both are durably
 * published. A crash at any point redelivers the unacknowledged inputs (at-least-once).
 *
 * The stages are pipelined: while batch N waits for the broker to confirm its predictions or
 * its acks, batch N+1 is read and predicted. Each stage still handles one batch at a time and
 * in read order: a sink sees one publish() at a time, batch N+1 is acknowledged only after
 * batch N, and never before its own predictions are confirmed. After a failure no later batch
 * is published or acknowledged; the batches in flight are left to the broker's redelivery.
 */
export async function runConsumer(options: ConsumerOptions): Promise<ConsumerStats> {
  const stats: ConsumerStats = { received: 0, predicted: 0, deadLettered: 0, batches: 0 };
  const maxInFlight = Math.max(1, options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);
  // Tails of the publish and ack stages: each batch's step waits for the previous batch's.
  let published: Promise<void> = Promise.resolve();
  let acked: Promise<void> = Promise.resolve();
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  while (!options.shouldStop() && !failure) {
    if (inFlight.size >= maxInFlight) {
      await Promise.race(inFlight);
      continue;
    }
    let prepared: PreparedBatch;
    try {
      const messages = await options.source.read({
        maxMessages: options.batchSize,
        maxWaitMs: options.maxWaitMs,
      });
      if (messages.length === 0) continue;
      prepared = await prepareBatch(messages, options);
    } catch (error) {
      failure = { error };
      break;
    }
    const batch = prepared;
    const publish = published.then(() => publishBatch(batch, options));
    const ack = Promise.all([acked, publish]).then(() => options.source.ack(batch.messages));
    published = publish;
    acked = ack;
    const done = ack.then(
      () => {
        const report = reportOf(batch);
        stats.received += report.received;
        stats.predicted += report.predicted;
        stats.deadLettered += report.deadLettered;
        stats.batches++;
        options.onBatch?.(report);
      },
      (error: unknown) => {
        failure ??= { error };
      },
    );
    inFlight.add(done);
    void done.then(() => inFlight.delete(done));
  }
  // SIGTERM (or a failure): the batches already read finish (or fail) before we return.
  await Promise.all(inFlight);
  if (failure) throw failure.error;
  return stats;
}

/** One batch: read, predict, publish, acknowledge, in one go (no pipelining). */
export async function processBatch(
  messages: StreamMessage[],
  options: Omit<ConsumerOptions, "shouldStop">,
): Promise<BatchReport> {
  const batch = await prepareBatch(messages, options);
  await publishBatch(batch, options);
  await options.source.ack(messages);
  return reportOf(batch);
}

/** A batch decoded and predicted, ready to publish. */
interface PreparedBatch {
  messages: StreamMessage[];
  predictions: Array<{ data: Uint8Array; key?: string }>;
  dead: Array<{ message: StreamMessage; error: string }>;
  started: number;
}

function prepareBatch(
  messages: StreamMessage[],
  options: Omit<ConsumerOptions, "shouldStop">,
): Promise<PreparedBatch> {
  const { predictor } = options;
  return predictor instanceof ModelHolder
    ? predictor.use((current) => prepareWith(current, messages, options))
    : prepareWith(predictor, messages, options);
}

async function prepareWith(
  predictor: Predictor,
  messages: StreamMessage[],
  { format, onPredicted }: Pick<ConsumerOptions, "format" | "onPredicted">,
): Promise<PreparedBatch> {
  const started = performance.now();
  const dead: Array<{ message: StreamMessage; error: string }> = [];
  const inputs: Array<Record<string, unknown>> = [];
  const good: Array<{ message: StreamMessage; id: unknown }> = [];
  for (const message of messages) {
    const decoded = decodeEvent(message.data, format);
    if (!decoded.ok) dead.push({ message, error: decoded.error });
    else {
      inputs.push(decoded.input);
      good.push({ message, id: decoded.id });
    }
  }

  const validation = validateRecords(inputs, predictor.info.inputs, {
    maxErrors: Number.MAX_SAFE_INTEGER,
  });
  const reasons = new Map<number, string[]>();
  for (const error of validation.errors) {
    const text = error.field ? `field "${error.field}" ${error.message}` : error.message;
    reasons.set(error.row, [...(reasons.get(error.row) ?? []), text]);
  }
  for (const [row, list] of reasons)
    dead.push({ message: good[row].message, error: list.join("; ") });

  // The prediction log keeps a classifier's probabilities too; the output stream does not.
  const predicted =
    validation.batch.rows > 0
      ? await predictor.predictColumns(
          validation.batch,
          onPredicted && predictor.info.probabilities ? { probabilities: true } : undefined,
        )
      : undefined;
  const values = predicted?.values ?? noPredictions(predictor.info);
  if (onPredicted && validation.batch.rows > 0)
    onPredicted(
      predictor.info,
      validation.batch,
      values,
      validation.rowIndex.map((row) => {
        const id = good[row].id;
        return id === undefined || id === null ? undefined : String(id);
      }),
      predicted?.probabilities,
    );
  const encode = predictionEncoder(format, predictor.info.version);
  const predictions = validation.rowIndex.map((row, i) => ({
    data: encode(values[i], good[row].id),
    key: good[row].id === undefined || good[row].id === null ? undefined : String(good[row].id),
  }));
  return { messages, predictions, dead, started };
}

/** Predictions first, then dead letters; resolves once the broker confirmed both. */
async function publishBatch(
  batch: PreparedBatch,
  options: Omit<ConsumerOptions, "shouldStop">,
): Promise<void> {
  await options.sink.publish(batch.predictions);
  if (batch.dead.length > 0) await publishDead(batch.dead, options);
}

function reportOf(batch: PreparedBatch): BatchReport {
  return {
    received: batch.messages.length,
    predicted: batch.predictions.length,
    deadLettered: batch.dead.length,
    ms: performance.now() - batch.started,
  };
}

async function publishDead(
  dead: Array<{ message: StreamMessage; error: string }>,
  options: Omit<ConsumerOptions, "shouldStop">,
): Promise<void> {
  const letters = dead.map(({ message, error }) => ({
    data: encodeDeadLetter(message.data, error, {
      source: options.source.description,
      position: message.position,
      partition: message.partition,
    }),
  }));
  if (options.deadLetter) {
    await options.deadLetter.publish(letters);
    options.logger.warn(
      { deadLettered: dead.length, first: dead[0].error },
      `${dead.length} events dead-lettered to ${options.deadLetter.description}: e.g. ${dead[0].error}`,
    );
    return;
  }
  for (const letter of letters) {
    options.logger.error(
      { deadLetter: JSON.parse(new TextDecoder().decode(letter.data)) as unknown },
      "bad event (no --dead-letter destination configured)",
    );
  }
}
