import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { resolveConfig } from "../../src/config/load.js";
import { parseSinkUrl } from "../../src/monitor/prediction-log/sinks/index.js";
import { serveOptionsSchema } from "../../src/serve/options.js";
import { streamOptionsSchema } from "../../src/stream/options.js";
import { tempDir } from "../helpers/temp.js";

describe("logPredictionsTo", () => {
  it("is read from the config file < MLDEPLOY_LOG_PREDICTIONS_TO < --log-predictions-to", () => {
    const cwd = tempDir();
    writeFileSync(
      path.join(cwd, "mldeploy.config.yaml"),
      "stream:\n  logPredictionsTo: s3://from-config/log\n",
    );
    const resolve = (flags: Record<string, unknown>, env: NodeJS.ProcessEnv) =>
      (
        resolveConfig(streamOptionsSchema, {
          section: "stream",
          flags: {
            model: "models:/m@production",
            source: "nats://x/a",
            sink: "nats://x/b",
            ...flags,
          },
          env,
          cwd,
        }) as { logPredictionsTo?: string }
      ).logPredictionsTo;
    expect(resolve({}, {})).toBe("s3://from-config/log");
    const env = { MLDEPLOY_LOG_PREDICTIONS_TO: "postgres://u@db/x?table=logs.predictions" };
    expect(resolve({}, env)).toBe(env.MLDEPLOY_LOG_PREDICTIONS_TO);
    expect(resolve({ logPredictionsTo: "s3://from-flag" }, env)).toBe("s3://from-flag");
  });

  it("is absent by default, and a bad URL or table is refused naming the setting", () => {
    const resolve = (flags: Record<string, unknown>) =>
      resolveConfig(serveOptionsSchema, {
        section: "serve",
        flags: { model: "models:/m@production", ...flags },
        env: {},
        cwd: tempDir(),
      }) as { logPredictionsTo?: string };
    expect(resolve({}).logPredictionsTo).toBeUndefined();
    expect(() => resolve({ logPredictionsTo: "ftp://x/y" })).toThrow(
      /logPredictionsTo.*: "ftp:\/\/x\/y" is not a prediction log sink/,
    );
    expect(() => resolve({ logPredictionsTo: "s3://Bad_Bucket/x" })).toThrow(
      /logPredictionsTo.*: invalid S3 bucket name "Bad_Bucket"/,
    );
    expect(() => resolve({ logPredictionsTo: "postgres://u@h/db?table=a.b.c" })).toThrow(
      /logPredictionsTo.*: table "a.b.c" is not a plain SQL table name/,
    );
  });

  it("parses the targets; the table parameter is not passed on to the server, nor the password shown", () => {
    expect(parseSinkUrl("s3://bucket/some/prefix/")).toEqual({
      kind: "s3",
      uri: "s3://bucket/some/prefix",
    });
    expect(
      parseSinkUrl("postgresql://me:secret@db:5433/app?sslmode=require&table=mon.log"),
    ).toEqual({
      kind: "postgres",
      connection: "postgresql://me:secret@db:5433/app?sslmode=require",
      table: { schema: "mon", name: "log" },
      description: "postgresql://me@db:5433/app table mon.log",
    });
    expect(parseSinkUrl("postgres://db/app")).toMatchObject({ table: { name: "prediction_log" } });
    expect(() => parseSinkUrl(`postgres://db/app?table=${"x".repeat(60)}`)).toThrow(
      /at most 57 characters/,
    );
    expect(() => parseSinkUrl("https://me:secret@host/x")).toThrow(/me:\*\*\*@host/);
  });
});
