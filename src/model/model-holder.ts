/**
 * A model that can be replaced while it is in use (a registry alias moved): the one holder the
 * server (one per served model) and the stream consumer keep their model in. `T` is whatever the
 * user of the holder works with (a Predictor, or serve's ServedModel); its close() releases it.
 *
 * Readers either take `current` once per unit of work (a serve request: the model's own
 * micro-batcher drains on close) or borrow it with use() (a stream batch: validation, prediction
 * and the version written out all come from one model). A replaced model is closed once the last
 * borrow of it returned.
 */
export class ModelHolder<T extends { close(): Promise<void> }> {
  private model: T;
  private readonly borrowed = new Map<T, number>();
  /** Replaced models still borrowed, with what settles the promise replace() returned. */
  private readonly retired = new Map<T, () => void>();
  private readonly closing: Array<Promise<void>> = [];
  private closed = false;

  constructor(initial: T) {
    this.model = initial;
  }

  get current(): T {
    return this.model;
  }

  /** Runs `work` with the current model; a replace() meanwhile does not close it under `work`. */
  async use<R>(work: (model: T) => Promise<R>): Promise<R> {
    const model = this.model;
    this.borrowed.set(model, (this.borrowed.get(model) ?? 0) + 1);
    try {
      return await work(model);
    } finally {
      const left = this.borrowed.get(model)! - 1;
      if (left > 0) this.borrowed.set(model, left);
      else {
        this.borrowed.delete(model);
        this.retired.get(model)?.();
      }
    }
  }

  /**
   * Later work uses `next`. Resolves once the model it replaces is closed (when nothing borrows
   * it any more); rejects if closing it failed.
   */
  replace(next: T): Promise<void> {
    const previous = this.model;
    if (previous === next) return Promise.resolve();
    // A load that finished after close() began: nothing will use it.
    if (this.closed) return this.closeNow(next);
    this.model = next;
    if (!this.borrowed.has(previous)) return this.closeNow(previous);
    return new Promise<void>((resolve, reject) => {
      this.retired.set(previous, () => {
        this.retired.delete(previous);
        this.closeNow(previous).then(resolve, reject);
      });
    });
  }

  /**
   * Closes the current model and the replaced ones still borrowed (call after the last use);
   * waits for all of them and rejects if closing the current one failed.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const release of [...this.retired.values()]) release();
    const current = this.closeNow(this.model);
    await Promise.allSettled(this.closing);
    await current;
  }

  private closeNow(model: T): Promise<void> {
    const closed = model.close();
    this.closing.push(closed.catch(() => undefined));
    return closed;
  }
}
