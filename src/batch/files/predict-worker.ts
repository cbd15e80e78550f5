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
import { loadPredictor } from "../../model/predictor.js";
import type { Predictor } from "../../model/types.js";
import {
  nextMessage,
  type PredictAnswer,
  type PredictRequest,
  type PredictWorkerData,
  type PredictWorkerStatus,
} from "./predict-protocol.js";

async function serve(data: PredictWorkerData): Promise<void> {
  const counters = new Int32Array(data.signal);
  // Wakes a main thread blocked on an answer that will never come.
  process.on("exit", () => {
    Atomics.store(counters, 2, 1);
    Atomics.notify(counters, 1);
  });
  let predictor: Predictor | undefined;
  try {
    if (data.constant === undefined) {
      predictor = await loadPredictor(data.bundle, { name: data.name, version: data.version });
    }
  } catch (error) {
    parentPort?.postMessage({
      ready: false,
      error: (error as Error).message,
    } satisfies PredictWorkerStatus);
    return;
  }
  parentPort?.postMessage({ ready: true } satisfies PredictWorkerStatus);
  let seen = 0;
  try {
    for (;;) {
      Atomics.wait(counters, 0, seen);
      seen = Atomics.load(counters, 0);
      const request = nextMessage(data.port) as PredictRequest;
      if ("stop" in request) break;
      let answer: PredictAnswer;
      try {
        answer = predictor
          ? { values: (await predictor.predictColumns(request.batch)).values }
          : { values: new Float64Array(request.batch.rows).fill(data.constant ?? 0) };
      } catch (error) {
        answer = { error: (error as Error).message };
      }
      data.port.postMessage(answer);
      Atomics.add(counters, 1, 1);
      Atomics.notify(counters, 1);
    }
  } finally {
    await predictor?.close();
  }
}

await serve(workerData as PredictWorkerData);
