import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { PostgresStore } from "../../../src/registry/store/postgres-store.js";
import { SqliteStore } from "../../../src/registry/store/sqlite-store.js";
import { NO_POSTGRES, PG_URL, postgresReachable, scratchDirs, TestSchemas } from "./helpers.js";

/**
 * Concurrent registrations of one model get distinct, consecutive version numbers and all
 * succeed. Rather than hoping that concurrent calls land in the race window, each test forces
 * the interleaving: every registration is held inside its transaction, after it read whatever
 * the numbering reads, until all of them are there; then they are released together. A
 * numbering that reads without locking (SELECT MAX(version) + 1, or reading the counter and
 * writing it back) hands out a number twice every time here.
 */

const CALLERS = 4;
const WAIT_MS = 20_000;

const HAS_POSTGRES = await postgresReachable();
const schemas = new TestSchemas();
afterAll(() => schemas.drop());

describe.skipIf(!HAS_POSTGRES)(
  `version numbering under forced concurrency: PostgreSQL${HAS_POSTGRES ? "" : ` — ${NO_POSTGRES}`}`,
  () => {
    /**
     * A trigger on model_versions makes every registration wait, inside its transaction and
     * after its numbering statements, on an advisory lock the test holds. The test releases
     * it only once all CALLERS backends of this store (found by their application_name) are
     * waiting on a lock: the first ones on the advisory lock, the others on the first ones.
     */
    async function registerTogether(preexisting: number): Promise<PromiseSettledResult<number>[]> {
      const schema = schemas.next();
      const app = `mldeploy_numbering_${randomBytes(6).toString("hex")}`;
      const key = randomInt(1, 2 ** 47);
      const url = new URL(PG_URL);
      url.searchParams.set("application_name", app);
      const store = await PostgresStore.open(url.toString(), { schema, poolSize: CALLERS + 2 });
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      try {
        const experiment = await store.createExperiment("e");
        const run = await store.createRun({ experimentId: experiment.id });
        for (let i = 0; i < preexisting; i++) {
          await store.createModelVersion({ name: "m", source: "/m", runId: run.id });
        }
        await admin.query(
          `CREATE FUNCTION "${schema}".hold() RETURNS trigger LANGUAGE plpgsql AS $$ ` +
            `BEGIN PERFORM pg_advisory_xact_lock_shared(${key}); RETURN NEW; END $$; ` +
            `CREATE TRIGGER hold BEFORE INSERT ON "${schema}".model_versions ` +
            `FOR EACH ROW EXECUTE FUNCTION "${schema}".hold()`,
        );
        await admin.query("SELECT pg_advisory_lock($1)", [key]);
        const calls = Array.from({ length: CALLERS }, () =>
          store
            .createModelVersion({ name: "m", source: "/m", runId: run.id })
            .then((v) => v.version),
        );
        try {
          await waitUntil(async () => {
            const { rows } = await admin.query<{ waiting: string }>(
              "SELECT count(*) AS waiting FROM pg_stat_activity " +
                "WHERE application_name = $1 AND wait_event_type = 'Lock'",
              [app],
            );
            return Number(rows[0].waiting) === CALLERS;
          }, `all ${CALLERS} registrations waiting inside their transactions`);
        } finally {
          await admin.query("SELECT pg_advisory_unlock($1)", [key]);
        }
        return await Promise.allSettled(calls);
      } finally {
        await admin.end();
        await store.close();
      }
    }

    // The registrations queue on the new model's row (inserted by the first one) before they
    // number anything, so this case checks creation under concurrency; the next one is where an
    // unlocked numbering fails every time.
    it(`first versions of a new model: ${CALLERS} registrations get 1…${CALLERS}`, async () => {
      expectConsecutive(await registerTogether(0), 1);
    });

    it(`a model with versions: ${CALLERS} registrations get the next ${CALLERS}`, async () => {
      expectConsecutive(await registerTogether(2), 3);
    });
  },
);

describe("version numbering under forced concurrency: SQLite", () => {
  const scratch = scratchDirs();
  const WORKER = path.resolve("test/registry/store/fixtures/version-worker.mjs");

  /**
   * CALLERS processes register at once while a connection of the test holds the database's
   * write lock in a transaction that changes the model's row (as a registration does): each
   * process has started its registration and read what it reads before the lock is released.
   */
  it(`${CALLERS} processes registering while another writer holds the lock get distinct numbers`, async () => {
    const file = path.join(scratch(), "registry.db");
    const store = await SqliteStore.open(file);
    const experiment = await store.createExperiment("e");
    const run = await store.createRun({ experimentId: experiment.id });
    await store.createModelVersion({ name: "m", source: "/m", runId: run.id });
    await store.close();

    const workers = Array.from({ length: CALLERS }, () => startWorker(WORKER, file, run.id));
    try {
      await Promise.all(workers.map((w) => w.next()));
      const holder = new Database(file, { timeout: WAIT_MS });
      try {
        holder.exec("BEGIN IMMEDIATE");
        holder.prepare("UPDATE registered_models SET updated_at = updated_at + 1").run();
        for (const w of workers) w.child.stdin.write("go\n");
        await Promise.all(workers.map((w) => w.next())); // "calling"
        // Each worker is now inside createModelVersion; give it time to reach its first lock.
        await sleep(1000);
        holder.exec("COMMIT");
      } finally {
        holder.close();
      }
      const results = await Promise.all(
        workers.map(async (w): Promise<PromiseSettledResult<number>> => {
          const line = await w.next();
          return line.startsWith("version ")
            ? { status: "fulfilled", value: Number(line.slice("version ".length)) }
            : { status: "rejected", reason: new Error(line) };
        }),
      );
      expectConsecutive(results, 2);
    } finally {
      for (const w of workers) w.child.kill("SIGKILL");
    }
  });
});

function expectConsecutive(results: PromiseSettledResult<number>[], first: number): void {
  const failures = results.flatMap((r) => (r.status === "rejected" ? [String(r.reason)] : []));
  expect(failures).toEqual([]);
  const versions = results.map((r) => (r.status === "fulfilled" ? r.value : 0));
  expect(versions.sort((a, b) => a - b)).toEqual(
    Array.from({ length: results.length }, (_, i) => first + i),
  );
}

async function waitUntil(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

interface Worker {
  child: ChildProcessWithoutNullStreams;
  /** The next line the worker prints. */
  next(): Promise<string>;
}

function startWorker(script: string, file: string, runId: string): Worker {
  const child = spawn(process.execPath, [script, `sqlite:${file}`, "m", runId]);
  const lines: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  let stderr = "";
  let buffered = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const resolve = waiting.shift();
      if (resolve) resolve(line);
      else lines.push(line);
    }
  });
  const exited = new Promise<string>((resolve) =>
    child.on("close", (code) => resolve(`exited ${code}: ${stderr}`)),
  );
  return {
    child,
    next: () => {
      const line = lines.shift();
      if (line !== undefined) return Promise.resolve(line);
      return Promise.race([new Promise<string>((resolve) => waiting.push(resolve)), exited]);
    },
  };
}
