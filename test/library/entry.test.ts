import path from "node:path";
import { describe, expect, it } from "vitest";
// The package's public entry, as `import … from "mldeploy"` resolves it (package.json exports).
import {
  Registry,
  batchOptionsSchema,
  runBatch,
  runStream,
  silentLogger,
  streamOptionsSchema,
} from "../../src/index.js";
import { isBadRide, makeRides, querySqlite, writeRidesSqlite } from "../batch/helpers.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";

describe("mldeploy as a library", () => {
  it("runs the README's runBatch example: a registered model scores a SQLite table", async () => {
    const dir = tempDir("mldeploy-library-");
    const db = path.join(dir, "rides.db");
    const rides = makeRides(250);
    writeRidesSqlite(db, rides);
    const registry = await Registry.open({ dataDir: path.join(dir, "registry") });
    try {
      const run = await registry.startRun({ experiment: "nyc-taxi" });
      await run.logModel(await rideBundlePath(), { register: "ride-duration" });
      await run.end();
      await registry.setAlias("ride-duration", "production", 1);

      const [stats] = await runBatch(
        batchOptionsSchema.parse({
          model: "models:/ride-duration@production",
          source: `sqlite:${db}`,
          table: "rides",
          idColumn: "ride_id",
          sink: `sqlite:${db}`,
          sinkTable: "ride_predictions",
        }),
        { registry, logger: silentLogger() },
      );
      const good = rides.filter((ride) => !isBadRide(ride)).length;
      expect(stats.rowsScored).toBe(good);
      const [row] = querySqlite<{ n: number; version: string }>(
        db,
        "SELECT count(*) AS n, max(model_version) AS version FROM ride_predictions",
      );
      expect(row).toEqual({ n: good, version: "1" });
    } finally {
      await registry.close();
    }
  });

  it("exposes runStream with its option schema", () => {
    expect(typeof runStream).toBe("function");
    const options = streamOptionsSchema.parse({
      model: "models:/ride-duration@production",
      source: "nats://127.0.0.1:4222/ride_events",
      sink: "nats://127.0.0.1:4222/ride_predictions",
    });
    expect(options).toMatchObject({ group: "mldeploy", batchSize: 500, pollIntervalMs: 10_000 });
  });
});
