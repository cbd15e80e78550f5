/**
 * The model of a file → file job scored inside DuckDB (see remote-predictor.ts), in its own
 * thread. DuckDB calls scalar functions synchronously on the main thread, and onnxruntime only
 * answers asynchronously, so the main thread hands each batch over here and blocks until the
 * answer is back.
 *
 * Between requests this thread blocks in Atomics.wait (Atomics.waitAsync never woke in Node 20
 * here); requests and answers travel through a MessagePort read with receiveMessageOnPort,
 * which needs no event loop turn on either side.
 */
import { parentPort, workerData } from "node:worker_threads";
import { OnnxRunner, openPlanSession } from "../../model/onnx-runner.js";
import type { ColumnarBatch, PredictionValues } from "../../model/types.js";
import {
  nextMessage,
  type PredictAnswer,
  type PredictRequest,
  type PredictWorkerData,
  type PredictWorkerStatus,
} from "./worker-messages.js";

async function serve(data: PredictWorkerData): Promise<void> {
  const counters = new Int32Array(data.signal);
  // Wakes a main thread blocked on an answer that will never come.
  process.on("exit", () => {
    Atomics.store(counters, 2, 1);
    Atomics.notify(counters, 1);
  });
  let model: Model | undefined;
  try {
    if (data.constant === undefined) model = await loadModel(data);
  } catch (error) {
    parentPort?.postMessage({
      ready: false,
      error: (error as Error).message,
    } satisfies PredictWorkerStatus);
    return;
  }
  parentPort?.postMessage({ ready: true } satisfies PredictWorkerStatus);
  let handled = 0;
  try {
    for (;;) {
      // Requests may queue up: the main thread posts the next before it takes an answer.
      if (Atomics.load(counters, 0) === handled) Atomics.wait(counters, 0, handled);
      if (Atomics.load(counters, 0) === handled) continue;
      handled++;
      const request = nextMessage(data.port) as PredictRequest;
      if ("stop" in request) break;
      let answer: PredictAnswer;
      try {
        answer = model
          ? { values: await model.run(request.batch) }
          : { values: new Float64Array(request.batch.rows).fill(data.constant ?? 0) };
      } catch (error) {
        answer = { error: (error as Error).message };
      }
      data.port.postMessage(answer);
      Atomics.add(counters, 1, 1);
      Atomics.notify(counters, 1);
    }
  } finally {
    await model?.close();
  }
}

interface Model {
  run(batch: ColumnarBatch): Promise<PredictionValues>;
  close(): Promise<void>;
}

/**
 * The model from its run plan: onnxruntime alone, several times cheaper to start than the
 * bundle's reader and checks. A model given without one loads its bundle again.
 */
async function loadModel(data: PredictWorkerData): Promise<Model> {
  if (data.plan) return new OnnxRunner(await openPlanSession(data.plan), data.plan);
  const { loadPredictor } = await import("../../model/predictor.js");
  const predictor = await loadPredictor(data.bundle, { name: data.name, version: data.version });
  return {
    run: async (batch) => (await predictor.predictColumns(batch)).values,
    close: () => predictor.close(),
  };
}

await serve(workerData as PredictWorkerData);
