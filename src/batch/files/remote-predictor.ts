import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import type { RunPlan } from "../../model/onnx-runner.js";
import type { ColumnarBatch, PredictionValues } from "../../model/types.js";
import {
  nextMessage,
  type PredictAnswer,
  type PredictRequest,
  type PredictWorkerData,
  type PredictWorkerStatus,
} from "./worker-messages.js";

/** How long one batch may take before the job gives up on the model worker. */
const ANSWER_TIMEOUT_MS = 120_000;

export interface RemoteModel {
  /** The bundle directory, loaded again in the worker when there is no `plan`. */
  bundle: string;
  /** The loaded model's graph and inputs: the worker then loads only onnxruntime and the graph. */
  plan?: RunPlan;
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
 * A model in worker threads that the main thread calls synchronously: take() blocks until a
 * worker has answered the batch given to submit(). Made for DuckDB scalar functions, which
 * must return their result before DuckDB goes on; anywhere else the Predictor's own async API
 * is the one to use.
 *
 * Batches go round the workers in turn and their answers are taken back in the same order, so
 * a caller that submits one batch per worker before taking the first has them predicted in
 * parallel while it goes on validating.
 */
export class RemotePredictor {
  private submitted = 0;
  private taken = 0;

  private constructor(private readonly workers: ModelWorker[]) {}

  /** The number of worker threads, each with its own copy of the model. */
  get threads(): number {
    return this.workers.length;
  }

  /**
   * Starts `threads` workers and waits for their models; undefined when the worker is not
   * built. A worker that cannot load the model fails the start and stops the others.
   */
  static async start(model: RemoteModel, threads = 1): Promise<RemotePredictor | undefined> {
    const script = workerScript();
    if (script === undefined) return undefined;
    const started = await Promise.allSettled(
      Array.from({ length: Math.max(1, threads) }, () => ModelWorker.start(script, model)),
    );
    const workers = started.flatMap((result) =>
      result.status === "fulfilled" ? [result.value] : [],
    );
    const failed = started.find((result) => result.status === "rejected");
    if (failed !== undefined) {
      await Promise.all(workers.map((worker) => worker.close()));
      throw failed.reason;
    }
    return new RemotePredictor(workers);
  }

  /** Hands a validated batch to the next worker and returns at once; take() gives its answer. */
  submit(batch: ColumnarBatch): void {
    this.workers[this.submitted % this.workers.length].submit(batch);
    this.submitted++;
  }

  /** The answers for the oldest batch submitted and not yet taken; blocks until it is there. */
  take(): PredictionValues {
    if (this.taken === this.submitted) throw new Error("take() without a batch submitted");
    const worker = this.workers[this.taken % this.workers.length];
    this.taken++;
    return worker.take();
  }

  /** Reads and drops the answers not taken yet (after a failure between submit and take). */
  discardAnswers(): void {
    while (this.taken < this.submitted) {
      try {
        this.take();
      } catch {
        // The answer to a batch nobody waits for any more.
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.close()));
  }
}

/** One thread of predict-worker.ts; it answers its batches in the order it got them. */
class ModelWorker {
  private readonly counters: Int32Array;
  /** Answers read back; the worker counts the answers it posted in counters[1]. */
  private taken = 0;
  private closed = false;

  private constructor(
    private readonly worker: Worker,
    private readonly port: MessagePort,
    signal: SharedArrayBuffer,
  ) {
    this.counters = new Int32Array(signal);
  }

  static async start(script: string, model: RemoteModel): Promise<ModelWorker> {
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
    return new ModelWorker(worker, port1, signal);
  }

  submit(batch: ColumnarBatch): void {
    this.post({ batch });
  }

  take(): PredictionValues {
    const deadline = performance.now() + ANSWER_TIMEOUT_MS;
    while (Atomics.load(this.counters, 1) === this.taken) {
      if (Atomics.load(this.counters, 2) === 1) throw new Error("the model worker has exited");
      if (performance.now() > deadline)
        throw new Error(`the model worker did not answer in ${ANSWER_TIMEOUT_MS / 1000} s`);
      Atomics.wait(this.counters, 1, this.taken, 1000);
    }
    this.taken++;
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
