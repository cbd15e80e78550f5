import { rmSync } from "node:fs";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../../src/log/logger.js";
import { ModelHolder } from "../../src/model/model-holder.js";
import { loadPredictor } from "../../src/model/predictor.js";
import { parseArtifactUri } from "../../src/registry/artifacts/uri.js";
import { Registry } from "../../src/registry/registry.js";
import { openStreamSink, openStreamSource } from "../../src/stream/endpoints.js";
import { streamOptionsSchema } from "../../src/stream/options.js";
import { runStream } from "../../src/stream/run.js";
import type { StreamSink, StreamSource } from "../../src/stream/types.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import { streamUrl, uniqueStream } from "./nats/helpers.js";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

describe("a consumer of models:/<name>@<alias> follows the alias", () => {
  let registry: Registry;
  let input: StreamSink;
  let output: StreamSource;
  const rides = streamUrl(uniqueStream("follow-rides"));
  const predictions = streamUrl(uniqueStream("follow-preds"));

  beforeAll(async () => {
    registry = await Registry.open({ dataDir: tempDir() });
    const bundle = await rideBundlePath();
    for (let i = 0; i < 2; i++) {
      const run = await registry.startRun({ experiment: "nyc-taxi" });
      await run.logModel(bundle, { register: "ride-duration" });
      await run.end();
    }
    await registry.setAlias("ride-duration", "production", 1);
    input = await openStreamSink(rides);
    await input.open();
    output = await openStreamSource(predictions, { group: "check", consumer: "check" });
    await output.open();
  });
  afterAll(async () => {
    await output?.close();
    await input?.close();
    await registry?.close();
  });

  const publish = (from: number, count: number) =>
    input.publish(
      Array.from({ length: count }, (_, n) => ({
        data: encoder.encode(
          JSON.stringify({
            ride: { PULocationID: 130, DOLocationID: 205, trip_distance: 3.66 },
            ride_id: from + n,
          }),
        ),
      })),
    );

  /** Prediction events in arrival order: [ride_id, version]. */
  const seen: Array<[number, string]> = [];
  const readUntil = async (done: () => boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!done() && Date.now() < deadline) {
      const messages = await output.read({ maxMessages: 500, maxWaitMs: 100 });
      for (const m of messages) {
        const event = JSON.parse(decoder.decode(m.data)) as {
          version: string;
          prediction: { ride_id: number };
        };
        seen.push([event.prediction.ride_id, event.version]);
      }
      await output.ack(messages);
    }
  };

  it("switches to the version the alias moves to, between batches, losing no event", async () => {
    let stop = false;
    const running = runStream(
      streamOptionsSchema.parse({
        model: "models:/ride-duration@production",
        source: rides,
        sink: predictions,
        group: "follow",
        batchSize: 10,
        maxWaitMs: 5,
        pollIntervalMs: 100,
      }),
      { registry, logger: silentLogger(), shouldStop: () => stop },
    );
    try {
      await publish(0, 50);
      await readUntil(() => seen.length >= 50, 15_000);
      expect(new Set(seen.map(([, version]) => version))).toEqual(new Set(["1"]));

      await registry.setAlias("ride-duration", "production", 2);
      // Events keep coming while the alias moves: each is predicted by one version or the other.
      let sent = 50;
      const deadline = Date.now() + 15_000;
      while (!seen.some(([, version]) => version === "2") && Date.now() < deadline) {
        await publish(sent, 10);
        sent += 10;
        await readUntil(() => seen.length >= sent, 1_000);
      }
      await readUntil(() => seen.length >= sent, 10_000);
    } finally {
      stop = true;
      await running;
    }
    const versions = seen.map(([, version]) => version);
    const firstNew = versions.indexOf("2");
    expect(firstNew).toBeGreaterThan(0);
    // Output stays in input order, so once a batch used version 2, no later one used version 1.
    expect(versions.slice(firstNew).every((version) => version === "2")).toBe(true);
    const ids = seen.map(([id]) => id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(Math.max(...ids) + 1).toBe(ids.length);
  }, 60_000);

  it("counts a version whose files are gone as a failed reload, once, and predicts on", async () => {
    // After the test above the alias points at version 2; version 3 is registered, then lost.
    const run = await registry.startRun({ experiment: "nyc-taxi" });
    const lost = await run.logModel(await rideBundlePath(), {
      register: "ride-duration",
      artifactPath: "lost",
    });
    await run.end();
    const location = parseArtifactUri(lost!.source);
    if (location.kind !== "local") throw new Error("expected a local artifact store");
    rmSync(location.path, { recursive: true, force: true });

    const lines: string[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => lines.push(line) });
    const logged = (text: string) => lines.filter((line) => line.includes(text)).length;
    let stop = false;
    const running = runStream(
      streamOptionsSchema.parse({
        model: "models:/ride-duration@production",
        source: rides,
        sink: predictions,
        group: "follow",
        batchSize: 10,
        maxWaitMs: 5,
        pollIntervalMs: 50,
      }),
      { registry, logger, shouldStop: () => stop },
    );
    const from = seen.length;
    try {
      await registry.setAlias("ride-duration", "production", Number(lost!.version));
      const deadline = Date.now() + 15_000;
      while (logged("its files cannot be read") === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // Several more polls find the same lost version: it is not reported again.
      await new Promise((resolve) => setTimeout(resolve, 500));
      await publish(10_000, 20);
      await readUntil(() => seen.length >= from + 20, 15_000);
    } finally {
      stop = true;
      await running;
    }
    expect(
      logged(`could not load version ${lost!.version} of models:/ride-duration@production`),
    ).toBe(1);
    expect(logged("could not check where")).toBe(0);
    expect(new Set(seen.slice(from).map(([, version]) => version))).toEqual(new Set(["2"]));
  }, 60_000);
});

describe("ModelHolder", () => {
  it("closes a replaced model only once the batches that borrowed it are done", async () => {
    const bundle = await rideBundlePath();
    const first = await loadPredictor(bundle, { version: "1" });
    const second = await loadPredictor(bundle, { version: "2" });
    const closed: string[] = [];
    for (const predictor of [first, second]) {
      const close = predictor.close.bind(predictor);
      predictor.close = async () => {
        closed.push(predictor.info.version);
        await close();
      };
    }
    const slot = new ModelHolder(first);
    let finish!: () => void;
    const borrowed = slot.use(async (predictor) => {
      await new Promise<void>((resolve) => (finish = resolve));
      // Still usable: not closed under the batch that holds it.
      return (
        await predictor.predictRecords([{ PULocationID: 1, DOLocationID: 2, trip_distance: 3 }])
      ).values[0];
    });
    const replaced = slot.replace(second);
    expect(slot.current.info.version).toBe("2");
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(closed).toEqual([]);
    finish();
    expect(await borrowed).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(closed).toEqual(["1"]);
    await replaced;
    await slot.close();
    expect(closed).toEqual(["1", "2"]);
  });
});
