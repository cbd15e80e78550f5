import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { concatBatches, MicroBatcher } from "../../src/model/micro-batcher.js";
import { loadPredictor } from "../../src/model/predictor.js";
import type { ColumnarBatch, PredictionBatch, Predictor } from "../../src/model/types.js";
import { validateRecords } from "../../src/model/validate.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";

/** The real ride model, recording the row count of every onnxruntime call it receives. */
class RecordingPredictor implements Predictor {
  readonly calls: number[] = [];
  closed = false;
  /** A ride with this distance makes the whole call fail, as a broken input would. */
  poison = -1;
  constructor(private readonly inner: Predictor) {}
  get info() {
    return this.inner.info;
  }
  predictRecords(records: ReadonlyArray<Record<string, unknown>>): Promise<PredictionBatch> {
    return this.inner.predictRecords(records);
  }
  async predictColumns(batch: ColumnarBatch): Promise<PredictionBatch> {
    this.calls.push(batch.rows);
    if ((batch.columns.trip_distance as Float64Array).includes(this.poison))
      throw new Error("poisoned batch");
    return this.inner.predictColumns(batch);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

let model: Predictor;
beforeAll(async () => {
  model = await loadPredictor(await rideBundlePath());
});
afterAll(async () => {
  await model?.close();
});

const ride = (i: number) => ({
  PULocationID: 1 + (i % 200),
  DOLocationID: 1 + ((i * 7) % 250),
  trip_distance: 0.5 + i / 10,
});
const batchOf = (rides: Array<Record<string, unknown>>): ColumnarBatch =>
  validateRecords(rides, model.info.inputs).batch;

describe("MicroBatcher", () => {
  it("passes every call straight through when the delay is 0", async () => {
    const inner = new RecordingPredictor(model);
    const batcher = new MicroBatcher(inner, { maxBatchSize: 64, maxDelayMs: 0 });
    expect(batcher.enabled).toBe(false);
    await Promise.all(
      Array.from({ length: 5 }, (_, i) => batcher.predictColumns(batchOf([ride(i)]))),
    );
    expect(inner.calls).toEqual([1, 1, 1, 1, 1]);
  });

  it("coalesces concurrent calls into one onnxruntime call, each caller getting its own rows", async () => {
    const inner = new RecordingPredictor(model);
    const batcher = new MicroBatcher(inner, { maxBatchSize: 64, maxDelayMs: 2 });
    const requests = [[ride(1)], [ride(2), ride(3)], [ride(4)], [ride(5), ride(6), ride(7)]];
    const answers = await Promise.all(
      requests.map((rides) => batcher.predictColumns(batchOf(rides))),
    );
    expect(inner.calls).toEqual([7]);
    for (const [i, rides] of requests.entries()) {
      const alone = await model.predictColumns(batchOf(rides));
      expect(answers[i].rows).toBe(rides.length);
      expect(Array.from(answers[i].values as Float64Array)).toEqual(
        Array.from(alone.values as Float64Array),
      );
    }
  });

  it("with a delay below 1 ms, gathers the calls made in the same event-loop turn", async () => {
    const inner = new RecordingPredictor(model);
    const batcher = new MicroBatcher(inner, { maxBatchSize: 64, maxDelayMs: 0.5 });
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => batcher.predictColumns(batchOf([ride(i)]))),
    );
    expect(inner.calls).toEqual([10]);
  });

  it("never puts more than maxBatchSize rows in one call, and runs a call that big alone", async () => {
    const inner = new RecordingPredictor(model);
    const batcher = new MicroBatcher(inner, { maxBatchSize: 4, maxDelayMs: 50 });
    const started = performance.now();
    await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => batcher.predictColumns(batchOf([ride(i)]))),
      batcher.predictColumns(batchOf([ride(20), ride(21), ride(22), ride(23), ride(24)])),
    ]);
    expect(inner.calls.slice().sort()).toEqual([2, 4, 4, 5]);
    // Full batches go at once; only the 2-row remainder waits out the 50 ms.
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("never gives the model more than maxBatchSize rows when multi-row calls add up past it (3 + 3, cap 4)", async () => {
    const inner = new RecordingPredictor(model);
    const batcher = new MicroBatcher(inner, { maxBatchSize: 4, maxDelayMs: 50 });
    const requests = [
      [ride(1), ride(2), ride(3)],
      [ride(4), ride(5), ride(6)],
    ];
    const answers = await Promise.all(
      requests.map((rides) => batcher.predictColumns(batchOf(rides))),
    );
    expect(inner.calls).toEqual([3, 3]);
    for (const [i, rides] of requests.entries()) {
      const alone = await model.predictColumns(batchOf(rides));
      expect(Array.from(answers[i].values as Float64Array)).toEqual(
        Array.from(alone.values as Float64Array),
      );
    }
  });

  it("holds maxBatchSize for any mix of call sizes arriving together, each caller getting its own rows", async () => {
    // A fixed pseudo-random sequence of 1- to 5-row calls (5 is above the cap: it runs alone).
    let seed = 7;
    const next = () => (seed = (seed * 48271) % 2147483647);
    const sizes = Array.from({ length: 60 }, () => 1 + (next() % 5));
    const inner = new RecordingPredictor(model);
    const batcher = new MicroBatcher(inner, { maxBatchSize: 4, maxDelayMs: 20 });
    let first = 0;
    const requests = sizes.map((size) => {
      const rides = Array.from({ length: size }, (_, k) => ride(first + k));
      first += size;
      return rides;
    });
    const answers = await Promise.all(
      requests.map((rides) => batcher.predictColumns(batchOf(rides))),
    );
    expect(inner.calls.filter((rows) => rows > 4)).toEqual(sizes.filter((size) => size > 4));
    expect(inner.calls.reduce((a, b) => a + b, 0)).toBe(first);
    const all = await model.predictColumns(batchOf(requests.flat()));
    let offset = 0;
    for (const [i, rides] of requests.entries()) {
      expect(Array.from(answers[i].values as Float64Array)).toEqual(
        Array.from((all.values as Float64Array).subarray(offset, offset + rides.length)),
      );
      offset += rides.length;
    }
  });

  it("fails only the caller whose rows break the call, not its batch neighbours", async () => {
    const inner = new RecordingPredictor(model);
    inner.poison = 999;
    const batcher = new MicroBatcher(inner, { maxBatchSize: 64, maxDelayMs: 2 });
    const results = await Promise.allSettled([
      batcher.predictColumns(batchOf([ride(1)])),
      batcher.predictColumns(batchOf([{ ...ride(2), trip_distance: 999 }])),
      batcher.predictColumns(batchOf([ride(3)])),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(inner.calls).toEqual([3, 1, 1, 1]);
  });

  it("drain runs what is queued without waiting out the delay; close drains, then closes the model", async () => {
    const inner = new RecordingPredictor(model);
    const batcher = new MicroBatcher(inner, { maxBatchSize: 64, maxDelayMs: 10_000 });
    const pending = batcher.predictColumns(batchOf([ride(1), ride(2)]));
    const started = performance.now();
    await batcher.close();
    expect((await pending).rows).toBe(2);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(inner.closed).toBe(true);
  });

  it("validates records before queueing, naming the field", async () => {
    const batcher = new MicroBatcher(new RecordingPredictor(model), {
      maxBatchSize: 8,
      maxDelayMs: 1,
    });
    await expect(batcher.predictRecords([{ PULocationID: 1, DOLocationID: 2 }])).rejects.toThrow(
      /trip_distance/,
    );
  });

  it("refuses nonsense settings", () => {
    expect(() => new MicroBatcher(model, { maxBatchSize: 0, maxDelayMs: 1 })).toThrow(
      /maxBatchSize/,
    );
    expect(() => new MicroBatcher(model, { maxBatchSize: 8, maxDelayMs: -1 })).toThrow(
      /maxDelayMs/,
    );
  });
});

describe("concatBatches", () => {
  it("keeps row order for numeric, string and boolean columns, honouring rows over buffer length", () => {
    const a: ColumnarBatch = {
      rows: 2,
      columns: { x: new Float64Array([1, 2, 99]), s: ["a", "b"], b: [true, false] },
    };
    const b: ColumnarBatch = {
      rows: 1,
      columns: { x: new Float64Array([3]), s: ["c"], b: [true] },
    };
    const merged = concatBatches([a, b]);
    expect(merged.rows).toBe(3);
    expect(Array.from(merged.columns.x as Float64Array)).toEqual([1, 2, 3]);
    expect(merged.columns.s).toEqual(["a", "b", "c"]);
    expect(merged.columns.b).toEqual([true, false, true]);
  });
});
