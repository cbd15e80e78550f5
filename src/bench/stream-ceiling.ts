/**
 * `node dist/bench/stream-ceiling.js <options JSON>`: the stream benchmark's reference
 * consumer. The same consumer loop, transports and event formats as `mldeploy stream`, with a
 * constant prediction instead of onnxruntime: what the path costs without the model.
 * Prints "ready" once consuming; SIGTERM finishes the batch in progress and exits.
 */
import { silentLogger } from "../log/logger.js";
import { loadPredictor } from "../model/predictor.js";
import { constantPredictor } from "./constant-predictor.js";
import { runConsumer } from "../stream/consumer.js";
import { openStreamSink, openStreamSource } from "../stream/endpoints.js";
import { ORIGINAL_FORMAT } from "../stream/events.js";

interface CeilingOptions {
  model: string;
  source: string;
  sink: string;
  group: string;
  batchSize: number;
  maxWaitMs: number;
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? "{}") as CeilingOptions;
  const predictor = constantPredictor(await loadPredictor(options.model, { version: "ceiling" }));
  const source = await openStreamSource(options.source, { group: options.group });
  const sink = await openStreamSink(options.sink);
  let stopping = false;
  process.on("SIGTERM", () => (stopping = true));
  try {
    await source.open();
    await sink.open();
    process.stdout.write("ready\n");
    await runConsumer({
      source,
      sink,
      predictor,
      format: ORIGINAL_FORMAT,
      batchSize: options.batchSize,
      maxWaitMs: options.maxWaitMs,
      logger: silentLogger(),
      shouldStop: () => stopping,
    });
  } finally {
    await source.close();
    await sink.close();
    await predictor.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
