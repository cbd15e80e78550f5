import net from "node:net";
import os from "node:os";
import path from "node:path";
import { readFileSync } from "node:fs";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  originalModels,
  originalServiceMissing,
  startOriginalService,
} from "../../src/bench/original-service.js";
import type { ServerProcess } from "../../src/bench/processes.js";
import { servableBundle } from "../../src/import/servable.js";
import { loadPredictor } from "../../src/model/predictor.js";
import { buildServer } from "../../src/serve/server.js";
import { tempDir } from "../helpers/temp.js";

/**
 * mldeploy's POST /predict beside the service it replaces: bench/original-service/predict.py,
 * the course's Flask app, run under gunicorn on its own lin_reg.bin, and mldeploy serving the
 * very same pickle. Each request goes to both; where they differ on purpose the test says so
 * (README Compatibility).
 */
const MISSING = await originalServiceMissing();
if (MISSING) console.warn(`original service conformance tests skipped: ${MISSING}`);

// The fixtures the import tests train (test/import/original-service.test.ts), shared.
const ROOT = path.join(os.tmpdir(), "mldeploy-import-fixtures", "original-service-20000-17");

interface Answer {
  status: number;
  allow: string | null;
  contentType: string;
  text: string;
}

async function call(url: string, method: string, body?: string, contentType?: string) {
  const response = await fetch(url, {
    method,
    headers: contentType === undefined ? {} : { "content-type": contentType },
    body,
  });
  return {
    status: response.status,
    allow: response.headers.get("allow"),
    contentType: response.headers.get("content-type") ?? "",
    text: await response.text(),
  } satisfies Answer;
}

const methods = (allow: string | null) => (allow ?? "").split(/,\s*/).sort();

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe.skipIf(MISSING !== undefined)(
  "bench/original-service/predict.py (Flask under gunicorn) and mldeploy on the same lin_reg.bin",
  () => {
    let flask: ServerProcess;
    let app: FastifyInstance;
    let mldeploy: string;
    // A zone pair seen in training (its own weight) and one never seen.
    let seen: { PULocationID: number; DOLocationID: number };

    beforeAll(async () => {
      const models = await originalModels(ROOT, 20_000, 17);
      const rides = JSON.parse(readFileSync(models.rides, "utf8")) as Record<string, number[]>;
      seen = { PULocationID: rides.PULocationID[0], DOLocationID: rides.DOLocationID[0] };
      flask = await startOriginalService(models.linear, await freePort(), 1);
      const bundle = await servableBundle(models.linear, {
        features: ['PU_DO=PULocationID + "_" + DOLocationID'],
        output: "duration",
        cacheDir: tempDir("mldeploy-conformance-import-"),
      });
      app = await buildServer(await loadPredictor(bundle, { version: "original" }), {
        maxBatchDelayMs: 0.5,
      });
      await app.listen({ port: 0, host: "127.0.0.1" });
      mldeploy = `http://127.0.0.1:${(app.server.address() as net.AddressInfo).port}`;
    }, 300_000);

    afterAll(async () => {
      await app?.close();
      await flask?.stop();
    });

    const both = (method: string, body?: unknown, contentType = "application/json") => {
      const text = body === undefined ? undefined : JSON.stringify(body);
      return Promise.all([
        call(`${flask.url}/predict`, method, text, body === undefined ? undefined : contentType),
        call(`${mldeploy}/predict`, method, text, body === undefined ? undefined : contentType),
      ]);
    };
    const duration = (answer: Answer) => (JSON.parse(answer.text) as { duration: number }).duration;

    it('ids sent as text ("%s_%s" made the same feature key): the answer the numbers get', async () => {
      const asNumbers = { ...seen, trip_distance: 4 };
      const asText = {
        PULocationID: String(seen.PULocationID),
        DOLocationID: String(seen.DOLocationID),
        trip_distance: 4,
      };
      const [flaskNumbers, mldeployNumbers] = await both("POST", asNumbers);
      const [flaskText, mldeployText] = await both("POST", asText);
      for (const answer of [flaskNumbers, mldeployNumbers, flaskText, mldeployText])
        expect(answer.status).toBe(200);
      expect(duration(flaskText)).toBe(duration(flaskNumbers));
      expect(duration(mldeployText)).toBe(duration(mldeployNumbers));
      expect(Math.abs(duration(mldeployText) - duration(flaskText))).toBeLessThan(
        1e-6 * duration(flaskText),
      );
      // The pair has a weight of its own: text that did not match it would answer otherwise.
      const [unseen] = await both("POST", { ...asNumbers, PULocationID: 9999 });
      expect(duration(unseen)).not.toBeCloseTo(duration(flaskText), 6);
    });

    it.each(["GET", "HEAD", "PUT", "DELETE", "PATCH"])(
      "%s /predict -> 405 with the Allow header Werkzeug sends",
      async (method) => {
        const [fromFlask, fromMldeploy] = await both(method);
        expect(fromFlask.status).toBe(405);
        expect(fromMldeploy.status).toBe(405);
        // Werkzeug lists them in no fixed order (a Python set).
        expect(methods(fromMldeploy.allow)).toEqual(methods(fromFlask.allow));
        expect(methods(fromMldeploy.allow)).toEqual(["OPTIONS", "POST"]);
        if (method !== "HEAD") {
          expect(JSON.parse(fromMldeploy.text)).toEqual({
            error: `method ${method} is not allowed on /predict; it answers POST`,
          });
        }
      },
    );

    it("OPTIONS /predict -> 200 with Allow and an empty body", async () => {
      const [fromFlask, fromMldeploy] = await both("OPTIONS");
      expect(fromFlask).toMatchObject({ status: 200, text: "" });
      expect(fromMldeploy).toMatchObject({ status: 200, text: "" });
      expect(methods(fromMldeploy.allow)).toEqual(methods(fromFlask.allow));
    });

    describe("deliberate differences: mldeploy refuses what Flask answered wrongly or failed on", () => {
      it.each([
        ["an id that is not the integer's text", { PULocationID: "0" + "SEEN" }, "PULocationID"],
        ["an id with spaces", { PULocationID: " SEEN" }, "PULocationID"],
        ["an id as a decimal text", { PULocationID: "SEEN.0" }, "PULocationID"],
        ["a word for an id", { DOLocationID: "abc" }, "DOLocationID"],
        ["a null id", { DOLocationID: null }, "DOLocationID"],
      ])(
        "%s: Flask scored an unseen zone pair (200), mldeploy -> 422 naming the field",
        async (_name, change, field) => {
          const value = Object.values(change)[0];
          const ride = {
            ...seen,
            trip_distance: 4,
            [field]:
              typeof value === "string"
                ? value.replace("SEEN", String(seen[field as keyof typeof seen]))
                : value,
          };
          const [fromFlask, fromMldeploy] = await both("POST", ride);
          const [unseenPair] = await both("POST", { ...ride, [field]: 9999 });
          expect(fromFlask.status).toBe(200);
          expect(duration(fromFlask)).toBe(duration(unseenPair));
          expect(fromMldeploy.status).toBe(422);
          expect(JSON.parse(fromMldeploy.text)).toMatchObject({ field });
        },
      );

      it("a distance as integer text: Flask's vectorizer took it for a category and dropped the distance; mldeploy reads the number", async () => {
        const [fromFlask, fromMldeploy] = await both("POST", { ...seen, trip_distance: "4" });
        const [flaskNumber, mldeployNumber] = await both("POST", { ...seen, trip_distance: 4 });
        expect(fromFlask.status).toBe(200);
        expect(duration(fromFlask)).not.toBeCloseTo(duration(flaskNumber), 3);
        expect(fromMldeploy.status).toBe(200);
        expect(duration(fromMldeploy)).toBe(duration(mldeployNumber));
      });

      it("a distance as decimal text (not an integer's) -> 422 naming the field", async () => {
        const [fromFlask, fromMldeploy] = await both("POST", { ...seen, trip_distance: "4.5" });
        const [asNumber] = await both("POST", { ...seen, trip_distance: 4.5 });
        expect(fromFlask.status).toBe(200);
        expect(duration(fromFlask)).not.toBeCloseTo(duration(asNumber), 3);
        expect(fromMldeploy.status).toBe(422);
        expect(JSON.parse(fromMldeploy.text)).toMatchObject({ field: "trip_distance" });
      });

      it("a missing field: Flask's KeyError is a 500, mldeploy -> 422 naming it", async () => {
        const [fromFlask, fromMldeploy] = await both("POST", seen);
        expect(fromFlask.status).toBe(500);
        expect(fromMldeploy.status).toBe(422);
        expect(JSON.parse(fromMldeploy.text)).toMatchObject({ field: "trip_distance" });
      });

      it("a body that is not JSON: Flask 400 (Werkzeug 2.2) or 415 (2.3+), mldeploy -> 415", async () => {
        const ride = { ...seen, trip_distance: 4 };
        const [fromFlask, fromMldeploy] = await both("POST", ride, "text/plain");
        expect([400, 415]).toContain(fromFlask.status);
        expect(fromMldeploy.status).toBe(415);
      });

      it("a list of rides: Flask fails (500), mldeploy answers each in order", async () => {
        const rides = [
          { ...seen, trip_distance: 4 },
          { ...seen, trip_distance: 9 },
        ];
        const [fromFlask, fromMldeploy] = await both("POST", rides);
        expect(fromFlask.status).toBe(500);
        expect(fromMldeploy.status).toBe(200);
        expect((JSON.parse(fromMldeploy.text) as unknown[]).length).toBe(2);
      });
    });
  },
);
