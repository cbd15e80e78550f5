import { createHash } from "node:crypto";
import { valueAt } from "./columns.js";
import type {
  BatchSink,
  BatchSource,
  Checkpoint,
  KeyValue,
  NullKeyChunk,
  ReadOptions,
} from "./types.js";

/**
 * Rows whose id or --since-column value is NULL have no place in the keyset order, so no read
 * ever scores them. Each run reports them instead: they go to the rejects like rows that fail
 * the model's schema, with the reason, and count as read and rejected.
 */

export interface NullKeyJob {
  jobId: string;
  source: BatchSource;
  sink: BatchSink;
  idColumn: string;
  sinceColumn?: string;
  /** The run's read (its `after` is ignored: these rows are outside the keyset). */
  read: Omit<ReadOptions, "chunkSize">;
  chunkSize: number;
  /** The prediction table's column and the model, as the job's other writes give them. */
  prediction: { column: string; modelName: string; modelVersion: string; runId?: string };
  /** The job's checkpoint, written again unchanged with the rejects. */
  checkpoint: () => Checkpoint | undefined;
}

export interface NullKeyOutcome {
  rows: number;
  first: { id: KeyValue; reason: string };
}

/** Writes each chunk of NULL-key rows to the sink's rejects; reports each once committed. */
export async function rejectNullKeys(
  job: NullKeyJob,
  committed: (outcome: NullKeyOutcome) => void,
): Promise<void> {
  if (job.source.readNullKeys === undefined) return;
  for await (const chunk of job.source.readNullKeys({ ...job.read, chunkSize: job.chunkSize })) {
    if (chunk.rows === 0) continue;
    const rejects = nullKeyRejects(chunk, job.idColumn, job.sinceColumn);
    const scoredAt = new Date().toISOString();
    await job.sink.write({
      jobId: job.jobId,
      predictions: {
        idColumn: job.idColumn,
        predictionColumn: job.prediction.column,
        ids: [],
        predictions: new Float64Array(0),
        extra: {},
        modelName: job.prediction.modelName,
        modelVersion: job.prediction.modelVersion,
        runId: job.prediction.runId,
        scoredAt,
      },
      rejects,
      checkpoint: job.checkpoint(),
    });
    committed({ rows: chunk.rows, first: { id: rejects.ids[0], reason: rejects.reasons[0] } });
  }
}

/** The reason a NULL-key row is not scored. */
export function nullKeyReason(column: string, role: "id" | "since"): string {
  return role === "id"
    ? `field "${column}" is NULL: it is the --id-column, and a row without an id cannot be scored`
    : `field "${column}" is NULL: it is the --since-column; the row is scored by the first run ` +
        "after it gets a value later than the job's watermark";
}

function nullKeyRejects(
  chunk: NullKeyChunk,
  idColumn: string,
  sinceColumn: string | undefined,
): { ids: KeyValue[]; reasons: string[]; rows: string[] } {
  const ids: KeyValue[] = [];
  const reasons: string[] = [];
  const rows: string[] = [];
  for (let row = 0; row < chunk.rows; row++) {
    const object: Record<string, unknown> = { [idColumn]: chunk.ids[row] };
    if (sinceColumn !== undefined) object[sinceColumn] = chunk.since?.[row] ?? null;
    for (const [name, column] of Object.entries(chunk.columns)) object[name] = valueAt(column, row);
    const text = JSON.stringify(object);
    const id = chunk.ids[row];
    // The rejects are keyed by id: a row without one is keyed by its content, so the same row
    // reported by every run stays one reject.
    ids.push(id ?? `null-id:${createHash("sha256").update(text).digest("hex").slice(0, 16)}`);
    reasons.push(
      id === null || sinceColumn === undefined
        ? nullKeyReason(idColumn, "id")
        : nullKeyReason(sinceColumn, "since"),
    );
    rows.push(text);
  }
  return { ids, reasons, rows };
}
