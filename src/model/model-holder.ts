import type { Predictor } from "./types.js";

/**
 * The model a long-running consumer predicts with, replaceable while it runs (its registry
 * alias moved). A batch borrows the current predictor for all of its work (validation against
 * the model's schema, the prediction, the version written into each output event), so no batch
 * mixes two versions; a replaced predictor is closed once the last batch that borrowed it is
 * done.
 */
export class PredictorSlot {
  private predictor: Predictor;
  private readonly borrowed = new Map<Predictor, number>();
  private readonly retired = new Set<Predictor>();
  private readonly closing: Array<Promise<void>> = [];
  private closed = false;

  constructor(initial: Predictor) {
    this.predictor = initial;
  }

  get current(): Predictor {
    return this.predictor;
  }

  async use<T>(work: (predictor: Predictor) => Promise<T>): Promise<T> {
    const predictor = this.predictor;
    this.borrowed.set(predictor, (this.borrowed.get(predictor) ?? 0) + 1);
    try {
      return await work(predictor);
    } finally {
      const left = this.borrowed.get(predictor)! - 1;
      if (left > 0) this.borrowed.set(predictor, left);
      else {
        this.borrowed.delete(predictor);
        if (this.retired.delete(predictor)) this.closeLater(predictor);
      }
    }
  }

  /** Later batches use `next`; the one it replaces is closed when no batch uses it any more. */
  replace(next: Predictor): void {
    const previous = this.predictor;
    if (previous === next) return;
    if (this.closed) {
      // A load that finished after shutdown began: nothing will use it.
      this.closeLater(next);
      return;
    }
    this.predictor = next;
    if (this.borrowed.has(previous)) this.retired.add(previous);
    else this.closeLater(previous);
  }

  /** Closes the current predictor and waits for replaced ones to close (call after the last use). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const predictor of this.retired) this.closeLater(predictor);
    this.retired.clear();
    this.closeLater(this.predictor);
    await Promise.allSettled(this.closing);
  }

  private closeLater(predictor: Predictor): void {
    this.closing.push(predictor.close().catch(() => undefined));
  }
}
