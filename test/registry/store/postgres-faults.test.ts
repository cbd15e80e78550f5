import { randomBytes, randomInt } from "node:crypto";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PostgresStore } from "../../../src/registry/store/postgres-store.js";
import { NO_POSTGRES, PG_URL, postgresReachable, TestSchemas } from "./helpers.js";
import { PgCutProxy } from "./pg-proxy.js";
import { PrivatePostgres, privatePostgresMissing } from "./private-postgres.js";

/**
 * The registry on PostgreSQL when connections drop: terminated by the server
 * (pg_terminate_backend, as a restart or an administrator does), or cut by the network while
 * COMMIT is on its way. Nothing may crash the process, fail a call that a retry can complete,
 * or write anything twice. Only this file's own backends are terminated: each store
 * connects with an application_name of its own.
 */

const HAS_POSTGRES = await postgresReachable();
const schemas = new TestSchemas();
afterAll(() => schemas.drop());

function urlWith(app: string, base = PG_URL): string {
  const url = new URL(base);
  url.searchParams.set("application_name", app);
  return url.toString();
}

const appName = () => `mldeploy_faults_${randomBytes(6).toString("hex")}`;

describe.skipIf(!HAS_POSTGRES)(
  `registry on PostgreSQL with connections that drop${HAS_POSTGRES ? "" : ` — ${NO_POSTGRES}`}`,
  () => {
    let admin: pg.Client;
    beforeAll(async () => {
      admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
    });
    afterAll(() => admin.end());

    /** Terminates the backends of one application_name; how many there were. */
    async function terminate(app: string, where = "true"): Promise<number> {
      const { rows } = await admin.query<{ pid: number }>(
        `SELECT pg_terminate_backend(pid) AS ok, pid FROM pg_stat_activity ` +
          `WHERE application_name = $1 AND pid <> pg_backend_pid() AND ${where}`,
        [app],
      );
      return rows.length;
    }

    it("a transaction whose backend is terminated mid-statement is run again, once", async () => {
      const app = appName();
      const schema = schemas.next();
      const store = await PostgresStore.open(urlWith(app), { schema });
      const key = randomInt(1, 2 ** 47);
      try {
        const run = await store.createRun({
          experimentId: (await store.createExperiment("e")).id,
        });
        // Holds a registration inside its INSERT, on an advisory lock this test owns.
        await admin.query(
          `CREATE FUNCTION "${schema}".hold() RETURNS trigger LANGUAGE plpgsql AS $$ ` +
            `BEGIN PERFORM pg_advisory_xact_lock_shared(${key}); RETURN NEW; END $$; ` +
            `CREATE TRIGGER hold BEFORE INSERT ON "${schema}".model_versions ` +
            `FOR EACH ROW EXECUTE FUNCTION "${schema}".hold()`,
        );
        await admin.query("SELECT pg_advisory_lock($1)", [key]);
        const registering = store.createModelVersion({ name: "m", source: "/m", runId: run.id });
        const held = "wait_event_type = 'Lock'";
        await waitFor(async () => (await countBackends(admin, app, held)) === 1);
        expect(await terminate(app, held)).toBe(1);
        await admin.query("SELECT pg_advisory_unlock($1)", [key]);
        expect((await registering).version).toBe(1);
        expect((await store.listModelVersions("m")).map((v) => v.version)).toEqual([1]);
      } finally {
        await store.close();
      }
    });

    it("keeps working while its backends are terminated again and again, writing nothing twice", async () => {
      const app = appName();
      const store = await PostgresStore.open(urlWith(app), { schema: schemas.next() });
      let stop = false;
      let terminated = 0;
      const killer = (async () => {
        while (!stop) {
          terminated += await terminate(app);
          await sleep(randomInt(50, 200));
        }
      })();
      try {
        const experiment = await store.createExperiment("e");
        const run = await store.createRun({ experimentId: experiment.id });
        const versions: number[] = [];
        const steps = 60;
        for (let step = 0; step < steps; step++) {
          // Also between calls, so that enough terminations happen however fast the calls run.
          if (step % 5 === 0) terminated += await terminate(app);
          await store.logMetrics(run.id, [{ key: "loss", value: step, step }]);
          if (step % 6 === 0) {
            const version = await store.createModelVersion({
              name: "m",
              source: "/m",
              runId: run.id,
            });
            versions.push(version.version);
          }
          expect((await store.getRun(run.id)).latestMetrics).toEqual({ loss: step });
        }
        stop = true;
        await killer;
        expect(terminated).toBeGreaterThan(5);
        expect(versions).toEqual(Array.from({ length: steps / 6 }, (_, i) => i + 1));
        expect((await store.listModelVersions("m")).map((v) => v.version)).toEqual(versions);
        const history = await store.getMetricHistory(run.id, "loss");
        expect(history.map((p) => p.step)).toEqual(Array.from({ length: steps }, (_, i) => i));
      } finally {
        stop = true;
        await killer;
        await store.close();
      }
    });

    describe("a connection cut while COMMIT is on its way", () => {
      let proxy: PgCutProxy;
      beforeAll(async () => {
        const target = new URL(PG_URL);
        proxy = await PgCutProxy.start({
          host: target.hostname,
          port: Number(target.port || 5432),
        });
      });
      afterAll(() => proxy.close());

      async function openThroughProxy(): Promise<PostgresStore> {
        const url = new URL(PG_URL);
        url.port = String(proxy.port);
        return PostgresStore.open(urlWith(appName(), url.toString()), { schema: schemas.next() });
      }

      it("after the server committed: the registration is returned, not made twice", async () => {
        const store = await openThroughProxy();
        try {
          const cuts = proxy.cuts;
          proxy.cutNextCommit("after-commit");
          const version = await store.createModelVersion({ name: "m", source: "/m" });
          expect(proxy.cuts).toBe(cuts + 1);
          expect(version.version).toBe(1);
          expect((await store.listModelVersions("m")).map((v) => v.version)).toEqual([1]);
          expect((await store.createModelVersion({ name: "m", source: "/m" })).version).toBe(2);

          const run = await store.createRun({
            experimentId: (await store.createExperiment("e")).id,
          });
          proxy.cutNextCommit("after-commit");
          await store.logMetrics(run.id, [
            { key: "loss", value: 1, step: 0 },
            { key: "loss", value: 2, step: 1 },
          ]);
          expect(proxy.cuts).toBe(cuts + 2);
          const history = await store.getMetricHistory(run.id, "loss");
          expect(history.map((p) => p.value)).toEqual([1, 2]);
        } finally {
          await store.close();
        }
      });

      it("before the server committed: the transaction is run again, once", async () => {
        const store = await openThroughProxy();
        try {
          const cuts = proxy.cuts;
          proxy.cutNextCommit("before-commit");
          const version = await store.createModelVersion({ name: "m", source: "/m" });
          expect(proxy.cuts).toBe(cuts + 1);
          expect(version.version).toBe(1);
          expect((await store.listModelVersions("m")).map((v) => v.version)).toEqual([1]);
        } finally {
          await store.close();
        }
      });
    });
  },
);

async function countBackends(admin: pg.Client, app: string, where: string): Promise<number> {
  const { rows } = await admin.query<{ n: string }>(
    `SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND ${where}`,
    [app],
  );
  return Number(rows[0].n);
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await sleep(20);
  }
}

const PRIVATE_MISSING = privatePostgresMissing();

describe.skipIf(PRIVATE_MISSING !== undefined)(
  `registry on a PostgreSQL server that restarts${PRIVATE_MISSING ? ` — skipped: ${PRIVATE_MISSING}` : ""}`,
  () => {
    it("every call completes across a restart (immediate stop, as a crash), nothing twice", async () => {
      const server = await PrivatePostgres.start(await freePort());
      let store: PostgresStore | undefined;
      let restarting: Promise<void> | undefined;
      try {
        store = await PostgresStore.open(server.url, { schema: "registry" });
        const experiment = await store.createExperiment("e");
        const run = await store.createRun({ experimentId: experiment.id });
        let restarts = 0;
        restarting = (async () => {
          await sleep(200);
          await server.restart(1000);
          restarts++;
        })();
        const versions: number[] = [];
        let step = 0;
        // Until well after the server is back, so calls run before, during and after.
        for (; restarts === 0 || step < 60; step++) {
          await store.logMetrics(run.id, [{ key: "loss", value: step, step }]);
          if (step % 5 === 0) {
            versions.push((await store.createModelVersion({ name: "m", source: "/m" })).version);
          }
          expect((await store.getRun(run.id)).latestMetrics).toEqual({ loss: step });
          await sleep(10);
        }
        await restarting;
        expect(versions).toEqual(Array.from({ length: versions.length }, (_, i) => i + 1));
        expect((await store.listModelVersions("m")).map((v) => v.version)).toEqual(versions);
        const history = await store.getMetricHistory(run.id, "loss");
        expect(history.map((p) => p.step)).toEqual(Array.from({ length: step }, (_, i) => i));
      } finally {
        await restarting?.catch(() => undefined);
        await store?.close();
        await server.stop();
      }
    });
  },
);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
