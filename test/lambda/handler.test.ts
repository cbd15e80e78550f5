import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../../src/config/errors.js";
import { handler, type HandlerResult } from "../../src/lambda.js";
import { loadPredictor } from "../../src/model/predictor.js";
import type { Predictor } from "../../src/model/types.js";
import { openKinesisSink, openKinesisSource } from "../../src/stream/kinesis/index.js";
import {
  KINESALITE_AWS_ENV,
  startKinesalite,
  useKinesaliteEnv,
  type KinesaliteServer,
} from "../helpers/kinesalite.js";
import { closeArtifactStores } from "../../src/registry/artifacts/open.js";
import { Registry } from "../../src/registry/registry.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { S3RVER_CREDENTIALS, startS3Server } from "../helpers/s3-server.js";
import { tempDir } from "../helpers/temp.js";

let server: KinesaliteServer;
let bundle: string;
let predictor: Predictor;
let checkpoints: string;

beforeAll(async () => {
  useKinesaliteEnv();
  server = await startKinesalite();
  bundle = await rideBundlePath();
  predictor = await loadPredictor(bundle);
  checkpoints = path.join(tempDir(), "checkpoints.db");
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_KINESIS: server.endpoint,
    MLDEPLOY_DATA_DIR: path.join(tempDir(), "data"),
    MLDEPLOY_LOG_LEVEL: "silent",
  });
});
afterAll(async () => {
  await predictor?.close();
  await server?.stop();
});

const rides = [
  { ride: { PULocationID: 130, DOLocationID: 205, trip_distance: 3.66 }, ride_id: 156 },
  { ride: { PULocationID: 10, DOLocationID: 50, trip_distance: 40 }, ride_id: 157 },
  { ride: { PULocationID: 1, DOLocationID: 2, trip_distance: 0 }, ride_id: "abc-158" },
];

/** A Kinesis event as Lambda delivers it (the shape of the AWS documentation's example). */
function kinesisEvent(payloads: Array<string | undefined>) {
  return {
    Records: payloads.map((payload, i) => {
      const sequenceNumber = `4959031144346558447806486741898541396745651298006794${String(i).padStart(4, "0")}`;
      return {
        kinesis: {
          kinesisSchemaVersion: "1.0",
          partitionKey: String(i),
          sequenceNumber,
          ...(payload === undefined ? {} : { data: Buffer.from(payload).toString("base64") }),
          approximateArrivalTimestamp: 1_654_161_514.132,
        },
        eventSource: "aws:kinesis",
        eventVersion: "1.0",
        eventID: `shardId-000000000000:${sequenceNumber}`,
        eventName: "aws:kinesis:record",
        invokeIdentityArn: "arn:aws:iam::123456789012:role/lambda-kinesis-role",
        awsRegion: "us-east-1",
        eventSourceARN: "arn:aws:kinesis:us-east-1:123456789012:stream/ride_events",
      };
    }),
  };
}

/** The prediction events the stream consumer would write for `rides`, from the predictor. */
async function expectedPredictions() {
  const { values } = await predictor.predictRecords(rides.map((r) => r.ride));
  return rides.map((r, i) => ({
    model: "ride_duration_prediction_model",
    version: predictor.info.version,
    prediction: { ride_duration: values[i], ride_id: r.ride_id },
  }));
}

function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  apply(vars);
  return fn().finally(() => apply(saved));
}

async function readStream(stream: string, count: number): Promise<unknown[]> {
  const source = openKinesisSource(
    `kinesis://${stream}?poll_ms=20&checkpoints=sqlite:${checkpoints}`,
    { group: "check", consumer: "check" },
  );
  await source.open();
  try {
    const out: unknown[] = [];
    const deadline = Date.now() + 5_000;
    while (out.length < count && Date.now() < deadline) {
      const batch = await source.read({ maxMessages: 100, maxWaitMs: 100 });
      for (const m of batch) out.push(JSON.parse(new TextDecoder().decode(m.data)));
      await source.ack(batch);
    }
    // Nothing beyond what was expected.
    out.push(
      ...(await source.read({ maxMessages: 100, maxWaitMs: 200 })).map((m) =>
        JSON.parse(new TextDecoder().decode(m.data)),
      ),
    );
    return out;
  } finally {
    await source.close();
  }
}

async function createStream(): Promise<string> {
  const name = `lambda_${randomBytes(4).toString("hex")}`;
  const sink = openKinesisSink(`kinesis://${name}?create=true&shards=2`);
  await sink.open();
  await sink.close();
  return name;
}

describe("the Lambda handler (dist/lambda.js) for Kinesis events", () => {
  it("fails the invocation with a UserError naming MODEL_URI when it is unset", async () => {
    await withEnv({ MODEL_URI: undefined, TEST_RUN: "True" }, async () => {
      await expect(handler(kinesisEvent([JSON.stringify(rides[0])]))).rejects.toThrow(UserError);
      await expect(handler(kinesisEvent([JSON.stringify(rides[0])]))).rejects.toThrow(
        /MODEL_URI is not set/,
      );
    });
  });

  it("with TEST_RUN=True returns the predictions of the stream consumer's code and puts nothing", async () => {
    // The output stream does not exist: any put would fail the invocation.
    const result = await withEnv(
      { MODEL_URI: bundle, TEST_RUN: "True", PREDICTIONS_STREAM_NAME: "no_such_stream" },
      () => handler(kinesisEvent(rides.map((r) => JSON.stringify(r)))),
    );
    expect(result).toEqual({ predictions: await expectedPredictions() });
  });

  it("reads the event shapes of another model from the same variables as mldeploy stream", async () => {
    const result = await withEnv(
      {
        MODEL_URI: bundle,
        TEST_RUN: "True",
        MLDEPLOY_INPUT_FIELD: "features",
        MLDEPLOY_ID_FIELD: "trip",
        MLDEPLOY_PREDICTION_FIELD: "minutes",
        MLDEPLOY_MODEL_LABEL: "eta",
      },
      () =>
        handler(
          kinesisEvent(rides.map((r) => JSON.stringify({ features: r.ride, trip: r.ride_id }))),
        ),
    );
    expect(result).toEqual({
      predictions: (await expectedPredictions()).map((p) => ({
        model: "eta",
        version: p.version,
        prediction: { minutes: p.prediction.ride_duration, trip: p.prediction.ride_id },
      })),
    });
  });

  it("puts the predictions to PREDICTIONS_STREAM_NAME (kinesalite) and returns them", async () => {
    const output = await createStream();
    const result = await withEnv(
      { MODEL_URI: bundle, TEST_RUN: undefined, PREDICTIONS_STREAM_NAME: output },
      () => handler(kinesisEvent(rides.map((r) => JSON.stringify(r)))),
    );
    const expected = await expectedPredictions();
    expect(result.predictions).toEqual(expected);
    const landed = await readStream(output, 3);
    expect(landed).toHaveLength(3);
    // Two shards: order holds per partition key (the ride id), not across them.
    expect(new Set(landed.map((e) => JSON.stringify(e)))).toEqual(
      new Set(expected.map((e) => JSON.stringify(e))),
    );
  });

  it("reports bad records (logged, dead-lettered, listed) and predicts the good ones of the batch", async () => {
    const [output, dead] = [await createStream(), await createStream()];
    const bad = [
      "not json",
      JSON.stringify({ ride_id: 7 }),
      JSON.stringify({ ride: { ...rides[0].ride, trip_distance: -1 }, ride_id: 8 }),
    ];
    const result: HandlerResult = await withEnv(
      {
        MODEL_URI: bundle,
        TEST_RUN: undefined,
        PREDICTIONS_STREAM_NAME: `kinesis://${output}`,
        DEAD_LETTER_STREAM_NAME: dead,
      },
      () =>
        handler(
          kinesisEvent([JSON.stringify(rides[0]), ...bad, undefined, JSON.stringify(rides[1])]),
        ),
    );
    const expected = await expectedPredictions();
    expect(result.predictions).toEqual([expected[0], expected[1]]);
    const rejected = result.rejected ?? [];
    expect(rejected.map((r) => r.position.slice(-4))).toEqual(["0001", "0002", "0003", "0004"]);
    expect(rejected[0]).toMatchObject({
      error: expect.stringMatching(/not JSON/),
      payload: "not json",
      source: "arn:aws:kinesis:us-east-1:123456789012:stream/ride_events",
      partition: "shardId-000000000000",
    });
    expect(rejected[1].error).toMatch(/field "ride" must be an object/);
    expect(rejected[2].error).toMatch(/trip_distance/);
    expect(rejected[3].error).toMatch(/Records\[4\]\.kinesis\.data is missing/);
    expect((await readStream(output, 2)).length).toBe(2);
    const letters = (await readStream(dead, 4)) as Array<{ payload: string }>;
    expect(letters.map((l) => l.payload).sort()).toEqual(rejected.map((r) => r.payload).sort());
  });

  it("refuses an event that is not a Kinesis event", async () => {
    await withEnv({ MODEL_URI: bundle, TEST_RUN: "True" }, async () => {
      await expect(handler({ Records: [{ eventSource: "aws:sqs", body: "{}" }] })).rejects.toThrow(
        /eventSource is "aws:sqs", not "aws:kinesis"/,
      );
      await expect(handler({ hello: "world" })).rejects.toThrow(/not a Kinesis event/);
    });
  });

  it("works as the built dist/lambda.js a Node.js 20 Lambda runtime loads", async () => {
    const lines = await runBuiltLambda({ MODEL_URI: bundle });
    const expected = await expectedPredictions();
    expect(resultOf(lines)).toEqual([{ predictions: expected }, { predictions: expected }]);
    // The model is loaded once per container, not per invocation (pino JSON log lines).
    const logs = logsOf(lines);
    expect(logs.filter((l) => l.msg.startsWith("loaded "))).toHaveLength(1);
    expect(logs.filter((l) => /^3 predicted, 0 rejected \(TEST_RUN/.test(l.msg))).toHaveLength(2);
  });

  it("loads MODEL_URI from S3 (s3rver), as the original MLflow variant did", async () => {
    const s3 = await startS3Server(["mlflow"]);
    try {
      const upload = await Registry.open({
        dataDir: tempDir(),
        artifactRoot: "s3://mlflow/experiments",
        s3: { endpoint: s3.endpoint },
      });
      // The upload runs in this process, whose AWS credentials are kinesalite's.
      const modelUri = await withEnv(S3RVER_CREDENTIALS, async () => {
        try {
          const run = await upload.startRun({ experiment: "ride-duration" });
          await run.logModel(bundle);
          await run.end();
          return `${run.info.artifactUri}/model`;
        } finally {
          await upload.close();
          closeArtifactStores();
        }
      });
      expect(modelUri).toMatch(/^s3:\/\/mlflow\/experiments\/.+\/model$/);
      const lines = await runBuiltLambda({
        ...S3RVER_CREDENTIALS,
        MODEL_URI: modelUri,
        MLDEPLOY_S3_ENDPOINT: s3.endpoint,
        MLDEPLOY_DATA_DIR: tempDir(),
      });
      const expected = await expectedPredictions();
      expect(resultOf(lines)).toEqual([{ predictions: expected }, { predictions: expected }]);
      expect(logsOf(lines).filter((l) => l.msg.startsWith(`loaded ${modelUri} `))).toHaveLength(1);
    } finally {
      await s3.stop();
    }
  });
});

/**
 * Runs the built dist/lambda.js in a fresh Node process (a new "container"), invoking the
 * handler twice with the same Kinesis event under TEST_RUN=True; returns its stdout lines.
 */
async function runBuiltLambda(env: Record<string, string>): Promise<string[]> {
  const script = `
    const { handler } = await import(${JSON.stringify(path.resolve("dist/lambda.js"))});
    const event = JSON.parse(process.argv[1]);
    const first = await handler(event);
    const second = await handler(event);
    console.log("RESULT " + JSON.stringify([first, second]));`;
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        script,
        JSON.stringify(kinesisEvent(rides.map((r) => JSON.stringify(r)))),
      ],
      {
        env: {
          ...process.env,
          ...KINESALITE_AWS_ENV,
          TEST_RUN: "True",
          MLDEPLOY_LOG_LEVEL: "info",
          ...env,
        },
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}`))));
  });
  return stdout.trim().split("\n");
}

function resultOf(lines: string[]): unknown {
  return JSON.parse(lines.find((line) => line.startsWith("RESULT "))!.slice("RESULT ".length));
}

/** The pino JSON log lines. */
function logsOf(lines: string[]): Array<{ msg: string }> {
  return lines
    .filter((line) => !line.startsWith("RESULT "))
    .map((line) => JSON.parse(line) as { msg: string });
}
