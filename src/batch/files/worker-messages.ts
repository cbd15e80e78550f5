/** What the main thread and the model worker of predict-worker.ts say to each other. */
import { receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import type { RunPlan } from "../../model/onnx-runner.js";
import type { ColumnarBatch, PredictionValues } from "../../model/types.js";

export interface PredictWorkerData {
  bundle: string;
  plan?: RunPlan;
  name: string;
  version: string;
  /** Answer this value for every row instead of loading the model (a benchmark's ceiling). */
  constant?: number;
  /** Int32Array over it: [requests posted, answers posted, 1 once the worker has exited]. */
  signal: SharedArrayBuffer;
  port: MessagePort;
}

export type PredictRequest = { batch: ColumnarBatch } | { stop: true };
export type PredictAnswer = { values: PredictionValues } | { error: string };
/** Sent once on parentPort: the model loaded, or why not. */
export type PredictWorkerStatus = { ready: true } | { ready: false; error: string };

const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * The message whose signal was just seen. postMessage queues it before the signal is raised,
 * so it is there; the short pauses only guard against a port that delivers late.
 */
export function nextMessage(port: MessagePort): unknown {
  for (let waited = 0; ; waited++) {
    const received = receiveMessageOnPort(port);
    if (received !== undefined) return received.message;
    if (waited > 10_000) throw new Error("a message between the model worker and DuckDB was lost");
    Atomics.wait(pause, 0, 0, 1);
  }
}
