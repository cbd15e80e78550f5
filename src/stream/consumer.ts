import type { Logger } from "../log/logger.js";
import type { Predictor } from "../model/types.js";
import { validateRecords } from "../model/validate.js";
import { decodeEvent, encodeDeadLetter, encodePrediction, type EventFormat } from "./events.js";
import type { StreamMessage, StreamSink, StreamSource } from "./types.js";

export interface ConsumerOptions {
  source: StreamSource;
  sink: StreamSink;
  /** Bad events go here; without one they are logged in full (never dropped silently). */
  deadLetter?: StreamSink;
  predictor: Predictor;
  format: EventFormat;
  batchSize: number;
  maxWaitMs: number;
  logger: Logger;
  /** Checked between batches: the batch in progress is published and acknowledged first. */
  shouldStop: () => boolean;
  /** Called after each acknowledged batch (metrics, tests). */
  onBatch?: (batch: BatchReport) => void;
}

export interface BatchReport {
  received: number;
  predicted: number;
  deadLettered: number;
  /** Publish to ack, for the latency of the batch. */
  ms: number;
}

export interface ConsumerStats {
  received: number;
  predicted: number;
  deadLettered: number;
  batches: number;
}

/**
 * The consumer loop shared by every transport: read a batch, predict it in one call, publish
 * the predictions and dead letters, and acknowledge the inputs only once both are durably
 * published. A crash at any point redelivers the unacknowledged inputs (at-least-once).
 */
export async function runConsumer(options: ConsumerOptions): Promise<ConsumerStats> {
  const stats: ConsumerStats = { received: 0, predicted: 0, deadLettered: 0, batches: 0 };
  while (!options.shouldStop()) {
    const messages = await options.source.read({
      maxMessages: options.batchSize,
      maxWaitMs: options.maxWaitMs,
    });
    if (messages.length === 0) continue;
    const report = await processBatch(messages, options);
    stats.received += report.received;
    stats.predicted += report.predicted;
    stats.deadLettered += report.deadLettered;
    stats.batches++;
    options.onBatch?.(report);
  }
  return stats;
}

export async function processBatch(
  messages: StreamMessage[],
  options: Omit<ConsumerOptions, "shouldStop">,
): Promise<BatchReport> {
  const started = performance.now();
  const { format, predictor } = options;
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

  const values =
    validation.batch.rows > 0
      ? (await predictor.predictColumns(validation.batch)).values
      : new Float64Array(0);
  const version = predictor.info.version;
  const predictions = validation.rowIndex.map((row, i) => ({
    data: encodePrediction(values[i], good[row].id, format, version),
    key: good[row].id === undefined || good[row].id === null ? undefined : String(good[row].id),
  }));

  await options.sink.publish(predictions);
  if (dead.length > 0) await publishDead(dead, options);
  await options.source.ack(messages);
  return {
    received: messages.length,
    predicted: predictions.length,
    deadLettered: dead.length,
    ms: performance.now() - started,
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
