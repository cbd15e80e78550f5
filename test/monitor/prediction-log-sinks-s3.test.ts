import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { mkdir, rm, utimes, copyFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeArtifactStores } from "../../src/registry/artifacts/index.js";
import {
  listLocalParts,
  materializeLogWindow,
  openPartPublisher,
} from "../../src/monitor/prediction-log/sinks/index.js";
import { openPredictionLog, PredictionLog } from "../../src/monitor/prediction-log/writer.js";
import { S3RVER_CREDENTIALS, startS3Server, type S3TestServer } from "../helpers/s3-server.js";
import { tempDir } from "../helpers/temp.js";
import {
  BATCHES,
  MODEL,
  TOTAL_ROWS,
  eventually,
  partsIn,
  quietLogger,
  recordBatches,
  relay,
  rowsOf,
  writtenLog,
} from "./prediction-log-sinks-helpers.js";

const BUCKET = "prediction-logs";
let server: S3TestServer;
let proxy: Awaited<ReturnType<typeof relay>>;
let s3: S3Client;

beforeAll(async () => {
  Object.assign(process.env, S3RVER_CREDENTIALS, {
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  });
  server = await startS3Server([BUCKET]);
  const port = Number(new URL(server.endpoint).port);
  // The sink talks to s3rver through a relay the outage test stops and starts again.
  proxy = await relay({ host: "127.0.0.1", port });
  process.env.MLDEPLOY_S3_ENDPOINT = `http://127.0.0.1:${proxy.port}`;
  s3 = new S3Client({
    endpoint: server.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  });
}, 30_000);

afterAll(async () => {
  closeArtifactStores();
  s3?.destroy();
  await proxy?.stop();
  await server?.stop();
});

async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${prefix}/`, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) keys.push(object.Key!.slice(prefix.length + 1));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

describe("prediction log parts to S3", () => {
  it("uploads each part to <prefix>/<key> once, and the window reads back the same rows", async () => {
    const { dir, reference } = await writtenLog();
    const parts = await partsIn(dir);
    expect(parts).toHaveLength(BATCHES.length);
    const publisher = openPartPublisher(`s3://${BUCKET}/runs/a`, {
      dir,
      logger: quietLogger(),
      catchUpOnStart: false,
    });
    try {
      for (const part of parts) expect(await publisher.publish(part)).toBe(true);
      expect(publisher.stats).toMatchObject({ published: parts.length, failed: 0 });
    } finally {
      await publisher.close();
    }
    // Sent again by another process (or after a restart): the same key, the same object.
    const retry = openPartPublisher(`s3://${BUCKET}/runs/a`, {
      dir,
      logger: quietLogger(),
      catchUpOnStart: false,
    });
    try {
      expect(await retry.publish(parts[0])).toBe(true);
      expect(retry.stats.published).toBe(1);
    } finally {
      await retry.close();
    }
    expect(await keysUnder("runs/a")).toEqual(parts.map((part) => part.key).sort());

    // The whole log, and a window of the 09:00 hour only.
    const all = tempDir("mldeploy-sinks-window-");
    expect(
      await materializeLogWindow(`s3://${BUCKET}/runs/a`, { model: MODEL }, all, quietLogger()),
    ).toEqual({ dir: all, files: parts.length });
    expect(await rowsOf(all)).toEqual(await rowsOf(reference));
    expect((await rowsOf(all)).length).toBe(TOTAL_ROWS);

    const from = new Date("2026-11-30T09:00:00Z");
    const to = new Date("2026-11-30T10:00:00Z");
    const hour = tempDir("mldeploy-sinks-window-");
    const window = await materializeLogWindow(
      `s3://${BUCKET}/runs/a`,
      { model: MODEL, from, to },
      hour,
      quietLogger(),
    );
    expect(window.files).toBe(2);
    const expected = await rowsOf(reference, from, to);
    expect(expected.length).toBe(55);
    expect(await rowsOf(hour, from, to)).toEqual(expected);
    expect((await listLocalParts(hour)).map((part) => part.key.split("/")[2].slice(0, 2))).toEqual([
      "09",
      "09",
    ]);
  });

  it("keeps parts locally while S3 is down, counts the failures, and catches up when it is back", async () => {
    const { dir, reference } = await writtenLog();
    const parts = await partsIn(dir);
    const publisher = openPartPublisher(`s3://${BUCKET}/runs/outage`, {
      dir,
      logger: quietLogger(),
      catchUpOnStart: false,
      // The part never handed over waits until it is 1 s old (the writer's to hand over
      // until then); rounds run every 200 ms while parts are left.
      settleMs: 1000,
      retryMs: 200,
    });
    try {
      await proxy.stop();
      for (const part of parts.slice(0, 2))
        await expect(publisher.publish(part)).rejects.toThrow(/cannot reach the S3 endpoint/);
      expect(publisher.stats.failed).toBe(2);
      const round = await publisher.catchUp({ all: true });
      expect(round.published).toBe(0);
      expect(round.left).toBe(parts.length);
      expect(round.error).toBeDefined();
      expect(await listLocalParts(dir)).toHaveLength(parts.length);

      await proxy.start();
      // The next part the writer hands over goes through, and what the outage left follows.
      const next = parts[2];
      expect(await publisher.publish(next)).toBe(true);
      await rm(next.file); // the writer's job once publish resolved true
      await eventually(async () => (await listLocalParts(dir)).length === 0, "catch-up");
      expect(publisher.stats).toMatchObject({ published: 1, caughtUp: parts.length - 1 });
    } finally {
      await proxy.start().catch(() => undefined);
      await publisher.close();
    }
    expect(await keysUnder("runs/outage")).toEqual(parts.map((part) => part.key).sort());
    const back = tempDir("mldeploy-sinks-window-");
    await materializeLogWindow(`s3://${BUCKET}/runs/outage`, { model: MODEL }, back, quietLogger());
    expect(await rowsOf(back)).toEqual(await rowsOf(reference));
  });

  it("a log opened with logPredictionsTo uploads the parts an earlier run left behind", async () => {
    const dir = tempDir("mldeploy-sinks-log-");
    const earlier = await writtenLog(BATCHES.slice(0, 2));
    // Left by a run that stopped during an outage, two minutes ago.
    for (const part of await listLocalParts(earlier.dir)) {
      const file = path.join(dir, ...part.key.split("/"));
      await mkdir(path.dirname(file), { recursive: true });
      await copyFile(part.file, file);
      const then = new Date(Date.now() - 120_000);
      await utimes(file, then, then);
    }
    const log = openPredictionLog(
      {
        logPredictions: true,
        logPredictionsDir: dir,
        logPredictionsTo: `s3://${BUCKET}/runs/restart`,
        logSample: 1,
        logFlushMs: 3_600_000,
        logQueueRows: 1000,
      },
      { mode: "stream", defaultDir: dir, logger: quietLogger() },
    );
    expect(log).toBeInstanceOf(PredictionLog);
    try {
      await eventually(async () => (await keysUnder("runs/restart")).length === 2, "upload");
      await eventually(async () => (await listLocalParts(dir)).length === 0, "local removal");
    } finally {
      await log!.close();
    }
    const back = tempDir("mldeploy-sinks-window-");
    await materializeLogWindow(
      `s3://${BUCKET}/runs/restart`,
      { model: MODEL },
      back,
      quietLogger(),
    );
    expect(await rowsOf(back)).toEqual(await rowsOf(earlier.reference));
  });

  it("the writer with a publisher: every logged row reaches S3 once, none stays local", async () => {
    const dir = tempDir("mldeploy-sinks-log-");
    const publisher = openPartPublisher(`s3://${BUCKET}/runs/writer`, {
      dir,
      logger: quietLogger(),
      catchUpOnStart: false,
    });
    const log = new PredictionLog({
      dir,
      mode: "serve",
      sample: 1,
      flushMs: 3_600_000,
      queueRows: 100_000,
      logger: quietLogger(),
      publisher,
    });
    try {
      await recordBatches(log, BATCHES);
      // close() waits for the writer's own copies, then closes its publisher.
      await log.close();
    } finally {
      await publisher.close();
    }
    // A copy that failed (a busy S3 timing out) leaves its part local, never lost: the next
    // start's catch-up takes it. Only the same keys, once each, may reach S3.
    const restart = openPartPublisher(`s3://${BUCKET}/runs/writer`, {
      dir,
      logger: quietLogger(),
      catchUpOnStart: false,
    });
    try {
      await restart.catchUp({ all: true });
    } finally {
      await restart.close();
    }
    expect(await listLocalParts(dir)).toEqual([]);
    expect(await keysUnder("runs/writer")).toHaveLength(BATCHES.length);
    const back = tempDir("mldeploy-sinks-window-");
    await materializeLogWindow(`s3://${BUCKET}/runs/writer`, { model: MODEL }, back, quietLogger());
    const rows = await rowsOf(back);
    expect(rows).toHaveLength(TOTAL_ROWS);
    expect(new Set(rows.map((row) => row.id)).size).toBe(TOTAL_ROWS);
  });
});
