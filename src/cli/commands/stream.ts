import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { UserError } from "../../config/errors.js";
import { resolveConfig } from "../../config/load.js";
import { createLogger } from "../../log/logger.js";
import { HttpSink } from "../../stream/http/sink.js";
import { streamOptionsSchema } from "../../stream/options.js";
import { addRegistryOptions, withRegistry } from "../registry-settings.js";
import { addSchemaOptions, pickSchemaFlags } from "../schema-options.js";

const STREAM_URLS =
  "kinesis://<stream>, nats://host:4222/<stream>, redis://host:6379/<key> or kafka://host:9092/<topic>";

export function registerStream(program: Command): void {
  const command = program
    .command("stream")
    .description(
      "Consume events from a stream, predict, publish the predictions (Kinesis, NATS JetStream, Redis Streams, Kafka)",
    )
    .option(
      "--config <file>",
      "config file with a `stream:` section (default ./mldeploy.config.yaml if present)",
    );
  addSchemaOptions(command, streamOptionsSchema);
  addRegistryOptions(command);
  command.addHelpText(
    "after",
    `
Delivery is at-least-once: events are acknowledged only after their predictions (and dead
letters) are published. SIGTERM finishes the batch in progress, then exits.

Stream URLs (the scheme picks the transport; options go in the query string):
  kinesis://<stream>[?endpoint=http://127.0.0.1:4567&region=…&checkpoints=postgres://…]
  nats://host:4222/<stream>[?ack_wait_ms=30000]
  redis://host:6379/<stream key>[?claim_idle_ms=30000]
  kafka://host:9092[,host2:9092]/<topic>

Examples:
  mldeploy stream --model models:/ride-duration@production \\
    --source nats://127.0.0.1:4222/ride_events --sink nats://127.0.0.1:4222/ride_predictions \\
    --dead-letter nats://127.0.0.1:4222/ride_dead_letters --group ride-duration
  mldeploy stream --model models:/ride-duration@production \\
    --source kinesis://ride_events --sink kinesis://ride_predictions --group ride-duration`,
  );
  command.action(async (flags: Record<string, unknown>) => {
    const options = resolveConfig(streamOptionsSchema, {
      section: "stream",
      flags: pickSchemaFlags(streamOptionsSchema, flags),
      configFile: typeof flags.config === "string" ? flags.config : undefined,
    });
    const logger = createLogger({ level: options.logLevel, format: options.logFormat });
    // Before the consumer's modules load (a second or more on a busy machine): a SIGTERM that
    // comes while it starts stops it cleanly (exit 0), not by the signal's default action.
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(1);
      stopping = true;
      logger.info({ signal }, "stopping after the batch in progress");
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
    const { runStream } = await import("../../stream/run.js");
    await withRegistry(flags, (registry) =>
      runStream(options, { registry, logger, shouldStop: () => stopping }),
    );
  });

  program
    .command("produce")
    .description(
      "Publish events from a JSON-lines file (or stdin) to a stream, for tests and demos",
    )
    .requiredOption(
      "--to <url>",
      `${STREAM_URLS}, or http(s)://… (each line POSTed as a JSON request, e.g. to a web service's /predict)`,
    )
    .option("--file <path>", "JSON lines, one event each (default: stdin)")
    .option("--rate <n>", "events per second (default: as fast as the broker takes them)")
    .addHelpText(
      "after",
      `\nExamples:\n  echo '{"ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}, "ride_id": 156}' |\n    mldeploy produce --to nats://127.0.0.1:4222/ride_events` +
        `\n  # replay rides against a running \`mldeploy serve\` (sample-data --requests writes them)` +
        `\n  mldeploy produce --to http://127.0.0.1:9696/predict --file ./requests.jsonl`,
    )
    .action(async (flags: { to: string; file?: string; rate?: string }) => {
      const rate = flags.rate === undefined ? undefined : Number(flags.rate);
      if (rate !== undefined && !(rate > 0))
        throw new UserError(`--rate must be a positive number, got "${flags.rate}"`);
      if (flags.file) await checkInputFile(flags.file);
      const { openStreamSink } = await import("../../stream/endpoints.js");
      const sink = await openStreamSink(flags.to);
      await sink.open();
      const encoder = new TextEncoder();
      const started = Date.now();
      let sent = 0;
      let batch: Array<{ data: Uint8Array }> = [];
      const flush = async () => {
        if (batch.length === 0) return;
        await sink.publish(batch);
        sent += batch.length;
        batch = [];
      };
      try {
        const lines = createInterface({
          input: flags.file ? createReadStream(flags.file) : process.stdin,
          crlfDelay: Infinity,
        });
        for await (const line of lines) {
          if (line.trim() === "") continue;
          batch.push({ data: encoder.encode(line) });
          if (rate !== undefined) {
            await flush();
            const due = started + (sent / rate) * 1000;
            if (due > Date.now())
              await new Promise((resolve) => setTimeout(resolve, due - Date.now()));
          } else if (batch.length >= 500) await flush();
        }
        await flush();
      } finally {
        await sink.close();
      }
      process.stderr.write(`published ${sent} events to ${sink.description}\n`);
      if (sink instanceof HttpSink)
        process.stderr.write(
          `answers: ${[...sink.statuses].map(([status, count]) => `${count} × ${status}`).join(", ")}\n`,
        );
    });

  program
    .command("consume")
    .description("Print events from a stream as JSON lines (peek at predictions or dead letters)")
    .requiredOption("--from <url>", STREAM_URLS)
    .option(
      "--group <name>",
      "consumer group (events acknowledged in it are not shown again)",
      "mldeploy-peek",
    )
    .option("--limit <n>", "stop after this many events", "10")
    .option("--wait-ms <n>", "stop when nothing arrives for this long", "2000")
    .action(async (flags: { from: string; group: string; limit: string; waitMs: string }) => {
      const limit = Number(flags.limit);
      const waitMs = Number(flags.waitMs);
      if (!Number.isInteger(limit) || limit < 1)
        throw new UserError(`--limit must be a positive integer, got "${flags.limit}"`);
      const { openStreamSource } = await import("../../stream/endpoints.js");
      const source = await openStreamSource(flags.from, { group: flags.group });
      await source.open();
      const decoder = new TextDecoder();
      let seen = 0;
      try {
        while (seen < limit) {
          const messages = await source.read({
            maxMessages: Math.min(500, limit - seen),
            maxWaitMs: waitMs,
          });
          if (messages.length === 0) break;
          for (const message of messages) process.stdout.write(decoder.decode(message.data) + "\n");
          await source.ack(messages);
          seen += messages.length;
        }
      } finally {
        await source.close();
      }
    });
}

/** Checked before a broker is contacted: a mistyped --file is one line, not a stack trace. */
async function checkInputFile(file: string): Promise<void> {
  const found = await stat(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") throw new UserError(`--file ${file} does not exist`);
    throw new UserError(`--file ${file} cannot be read (${error.code ?? error.message})`);
  });
  if (!found.isFile()) throw new UserError(`--file ${file} is not a file`);
}
