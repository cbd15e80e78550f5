import { writeFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { batchOptionsSchema } from "../../src/batch/options.js";
import { isTransient, retryDelayMs, sleepUnlessStopped } from "../../src/batch/retry.js";
import { ConfigError, resolveConfig } from "../../src/config/load.js";
import { UserError } from "../../src/config/errors.js";
import { tempDir } from "../helpers/temp.js";
import { PG_URL, postgresReachable } from "../registry/store/helpers.js";

const HAS_POSTGRES = await postgresReachable();

/** The error PostgreSQL itself raises with this SQLSTATE. */
async function serverError(state: string): Promise<unknown> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(`DO $$ BEGIN RAISE EXCEPTION 'raised' USING ERRCODE = '${state}'; END $$`);
  } catch (error) {
    return error;
  } finally {
    await client.end();
  }
  throw new Error("no error raised");
}

describe("which batch failures are retried", () => {
  it.skipIf(!HAS_POSTGRES)(
    "PostgreSQL's restart, connection and concurrency SQLSTATEs, not the others",
    async () => {
      for (const state of ["57P01", "57P02", "57P03", "08006", "40001", "40P01"]) {
        expect(isTransient(await serverError(state)), state).toBe(true);
      }
      for (const state of ["42P01", "23505", "22003", "P0001"]) {
        expect(isTransient(await serverError(state)), state).toBe(false);
      }
    },
  );

  it("a connection refused by every address of a host, but never a UserError", async () => {
    // A closed port: pg reports ECONNREFUSED (an AggregateError when the host has several addresses).
    const client = new pg.Client({ connectionString: "postgres://postgres@localhost:1/test" });
    const refused = await client.connect().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(isTransient(refused)).toBe(true);
    expect(isTransient(new UserError("cannot connect", { cause: refused }))).toBe(false);
    expect(isTransient(new Error("Connection terminated unexpectedly"))).toBe(true);
    expect(isTransient(new Error("column x does not exist"))).toBe(false);
  });

  it("waits longer before each retry, up to a minute, and stops waiting on a stop request", async () => {
    const policy = { attempts: 5, delayMs: 1000 };
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => retryDelayMs(policy, n))).toEqual([
      1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000,
    ]);
    const started = Date.now();
    expect(await sleepUnlessStopped(10_000, Promise.resolve())).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await sleepUnlessStopped(10)).toBe(false);
  });

  it("takes its settings from flags, MLDEPLOY_* env and the config file, with defaults", () => {
    const base = {
      model: "m",
      source: "sqlite:a.db",
      table: "t",
      idColumn: "id",
      sink: "sqlite:a.db",
      sinkTable: "p",
    };
    const defaults = resolveConfig(batchOptionsSchema, {
      section: "batch",
      flags: base,
      env: {},
      cwd: tempDir(),
    });
    expect(defaults).toMatchObject({ retryAttempts: 5, retryDelay: "1s" });
    const fromEnv = resolveConfig(batchOptionsSchema, {
      section: "batch",
      flags: base,
      env: { MLDEPLOY_RETRY_ATTEMPTS: "0", MLDEPLOY_RETRY_DELAY: "250ms" },
      cwd: tempDir(),
    });
    expect(fromEnv).toMatchObject({ retryAttempts: 0, retryDelay: "250ms" });
    const dir = tempDir();
    writeFileSync(path.join(dir, "mldeploy.config.yaml"), "batch:\n  retryAttempts: 2\n");
    const fromFile = resolveConfig(batchOptionsSchema, {
      section: "batch",
      flags: base,
      env: {},
      cwd: dir,
    });
    expect(fromFile).toMatchObject({ retryAttempts: 2, retryDelay: "1s" });
    expect(() =>
      resolveConfig(batchOptionsSchema, {
        section: "batch",
        flags: { ...base, retryDelay: "soon" },
        env: {},
        cwd: tempDir(),
      }),
    ).toThrow(ConfigError);
    expect(() =>
      resolveConfig(batchOptionsSchema, {
        section: "batch",
        flags: { ...base, retryDelay: "soon" },
        env: {},
        cwd: tempDir(),
      }),
    ).toThrow(/retryDelay|retry-delay/);
  });
});
