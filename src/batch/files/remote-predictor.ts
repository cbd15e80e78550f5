import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import type { ColumnarBatch } from "../../model/types.js";
import {
  nextMessage,
  type PredictAnswer,
  type PredictRequest,
  type PredictWorkerData,
  type PredictWorkerStatus,
} from "./predict-protocol.js";

/** How long one batch may take before the job gives up on the model worker. */
const ANSWER_TIMEOUT_MS = 120_000;

export interface RemoteModel {
  /** The bundle directory, loaded again in the worker. */
  bundle: string;
  name: string;
  version: string;
  /** Answer this for every row instead of running the model (a benchmark's ceiling). */
  constant?: number;
}

/**
 * The compiled worker next to this module. Tests run this module from src/ (TypeScript), so
 * from there it is the one in dist/, which `npm test` builds first.
 */
function workerScript(): string | undefined {
  const here = new URL("./predict-worker.js", import.meta.url);
  const candidates = [fileURLToPath(here)];
  const fromSource = candidates[0].replace(/([/\\])src([/\\]batch[/\\]files[/\\])/, "$1dist$2");
  if (fromSource !== candidates[0]) candidates.push(fromSource);
  return candidates.find((file) => existsSync(file));
}

/**
 * A model in a worker thread that the main thread calls synchronously: predictSync() blocks
 * until the worker answers. Made for DuckDB scalar functions, which must return their result
 * before DuckDB goes on; anywhere else the Predictor's own async API is the one to use.
 */
export class RemotePredictor {
  private readonly counters: Int32Array;
  private closed = false;

  private constructor(
    private readonly worker: Worker,
    private readonly port: MessagePort,
    signal: SharedArrayBuffer,
  ) {
    this.counters = new Int32Array(signal);
  }

  /** Starts the worker and waits for its model; undefined when the worker is not built. */
  static async start(model: RemoteModel): Promise<RemotePredictor | undefined> {
    const script = workerScript();
    if (script === undefined) return undefined;
    const signal = new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT);
    const { port1, port2 } = new MessageChannel();
    const data: PredictWorkerData = { ...model, signal, port: port2 };
    const worker = new Worker(script, { workerData: data, transferList: [port2] });
    const status = await new Promise<PredictWorkerStatus>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
      worker.once("exit", (code) =>
        reject(new Error(`the model worker exited with code ${code} while loading`)),
      );
    }).finally(() => worker.removeAllListeners());
    if (!status.ready) {
      await worker.terminate();
      throw new Error(status.error);
    }
    worker.on("error", () => {});
    return new RemotePredictor(worker, port1, signal);
  }

  /** The model's answers for a validated batch; blocks the calling thread meanwhile. */
  predictSync(batch: ColumnarBatch): Float64Array {
    if (batch.rows === 0) return new Float64Array(0);
    const answered = Atomics.load(this.counters, 1);
    this.post({ batch });
    const deadline = performance.now() + ANSWER_TIMEOUT_MS;
    while (Atomics.load(this.counters, 1) === answered) {
      if (Atomics.load(this.counters, 2) === 1) throw new Error("the model worker has exited");
      if (performance.now() > deadline)
        throw new Error(`the model worker did not answer in ${ANSWER_TIMEOUT_MS / 1000} s`);
      Atomics.wait(this.counters, 1, answered, 1000);
    }
    const answer = nextMessage(this.port) as PredictAnswer;
    if ("error" in answer) throw new Error(answer.error);
    return answer.values;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const exited = new Promise<void>((resolve) => this.worker.once("exit", () => resolve()));
    if (Atomics.load(this.counters, 2) !== 1) this.post({ stop: true });
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
    await this.worker.terminate();
    this.port.close();
  }

  private post(request: PredictRequest): void {
    this.port.postMessage(request);
    Atomics.add(this.counters, 0, 1);
    Atomics.notify(this.counters, 0);
  }
}
