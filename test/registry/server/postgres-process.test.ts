import { randomBytes, randomInt } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { NO_POSTGRES, PG_URL, postgresReachable, TestSchemas } from "../store/helpers.js";
import { api } from "./helpers.js";
import { startServerProcess } from "./server-process.js";

/**
 * A `mldeploy registry-server` process on PostgreSQL whose backends are terminated while it
 * serves: it must stay up and answer every request as if nothing happened. Only its own
 * backends are terminated (selected by the application_name in its registry URL).
 */

const HAS_POSTGRES = await postgresReachable();
const schemas = new TestSchemas();
afterAll(() => schemas.drop());

describe.skipIf(!HAS_POSTGRES)(
  `registry-server on PostgreSQL${HAS_POSTGRES ? "" : ` — ${NO_POSTGRES}`}`,
  () => {
    it("keeps serving, and answers every request, while its backends are terminated", async () => {
      const app = `mldeploy_server_faults_${randomBytes(6).toString("hex")}`;
      const registryUrl = new URL(PG_URL);
      registryUrl.searchParams.set("schema", schemas.next());
      registryUrl.searchParams.set("application_name", app);
      const server = await startServerProcess(["--registry-url", registryUrl.toString()]);
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      let stop = false;
      let terminated = 0;
      const terminate = async () => {
        const { rowCount } = await admin.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
          [app],
        );
        terminated += rowCount ?? 0;
      };
      // At random moments (some land mid-request), and once before every step below, so the
      // pooled connections the previous step left idle are terminated however fast it ran.
      const killer = (async () => {
        while (!stop) {
          await terminate();
          await sleep(randomInt(50, 200));
        }
      })();
      try {
        const call = async (method: string, route: string, body?: object) => {
          const answer = await api(server.url, method, `/api/v1${route}`, { body }).catch(
            async (error: unknown) => {
              // The server process died: show why.
              await Promise.race([server.exited, sleep(1000)]);
              throw new Error(`${method} ${route} failed; server stderr: ${server.stderr()}`, {
                cause: error,
              });
            },
          );
          expect(answer.status, `${method} ${route}: ${JSON.stringify(answer.body)}`).toBeLessThan(
            300,
          );
          return answer.body as Record<string, unknown>;
        };
        const experiment = await call("POST", "/experiments", { name: "e" });
        const run = await call("POST", "/runs", { experimentId: experiment.id });
        const versions: unknown[] = [];
        for (let step = 0; step < 40; step++) {
          await terminate();
          await call("POST", `/runs/${String(run.id)}/metrics`, {
            metrics: [{ key: "loss", value: step, step }],
          });
          if (step % 5 === 0) {
            const version = await call("POST", "/models/m/versions", {
              source: `${String(run.artifactUri)}/model`,
              runId: run.id,
            });
            versions.push(version.version);
          }
          expect(await call("GET", `/runs/${String(run.id)}`)).toMatchObject({
            latestMetrics: { loss: step },
          });
        }
        stop = true;
        await killer;
        expect(terminated).toBeGreaterThan(5);
        expect(server.child.exitCode).toBeNull();
        expect(versions).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
        const history = (await call("GET", `/runs/${String(run.id)}/metrics/loss`)) as unknown as {
          step: number;
        }[];
        expect(history.map((p) => p.step)).toEqual(Array.from({ length: 40 }, (_, i) => i));
        // The operator sees the retries.
        expect(server.lines.some((line) => String(line.msg).includes("retrying"))).toBe(true);

        server.child.kill("SIGTERM");
        expect(await server.exited).toBe(0);
      } finally {
        stop = true;
        await killer;
        await admin.end();
        server.child.kill("SIGKILL");
      }
    });
  },
);
