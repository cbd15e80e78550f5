import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BATCH_EXPERIMENT,
  batchRuns,
  endGoneRuns,
  livenessTags,
  STALE_AFTER_MS,
} from "../../src/batch/history.js";
import { Registry } from "../../src/registry/registry.js";
import { tempDir } from "../helpers/temp.js";
import { quietLogger } from "./helpers.js";

let registry: Registry;
beforeAll(async () => {
  registry = await Registry.open({ dataDir: path.join(tempDir(), "registry") });
});
afterAll(() => registry?.close());

/** A RUNNING run of `job` whose process last beat `ago` ms ago, on another host. */
async function runOn(job: string, ago: number, host = "another-host") {
  const run = await registry.startRun({
    experiment: BATCH_EXPERIMENT,
    tags: { job, ...livenessTags(Date.now() - ago), host },
  });
  return run.id;
}

describe("batch runs whose process is gone", () => {
  it("are shown KILLED, 'process gone', once their heartbeat is stale; live ones stay RUNNING", async () => {
    const stale = await runOn("job-a", STALE_AFTER_MS + 60_000);
    const live = await runOn("job-a", 1_000);
    const runs = await batchRuns(registry, { job: "job-a" });
    const status = Object.fromEntries(runs.map((run) => [run.id, run.status]));
    expect(status).toEqual({ [stale]: "KILLED", [live]: "RUNNING" });
    expect(runs.find((run) => run.id === stale)!.tags.failure_reason).toBe("process gone");
    // Shown, not written: the store still has it RUNNING until the job runs again.
    expect((await registry.store.getRun(stale)).status).toBe("RUNNING");
  });

  it("are shown KILLED at once on this host when no process has their pid", async () => {
    // A pid above any pid_max (2^22) is never a live process.
    const run = await registry.startRun({
      experiment: BATCH_EXPERIMENT,
      tags: { job: "job-b", ...livenessTags(), pid: "99999999" },
    });
    const [shown] = await batchRuns(registry, { job: "job-b" });
    expect(shown).toMatchObject({ id: run.id, status: "KILLED" });
  });

  it("are ended KILLED in the registry, at their last heartbeat, when their job runs again", async () => {
    const staleFor = STALE_AFTER_MS + 60_000;
    const stale = await runOn("job-c", staleFor);
    const live = await runOn("job-c", 1_000);
    const otherJob = await runOn("job-d", staleFor);
    await endGoneRuns(registry, "job-c", quietLogger());
    const ended = await registry.store.getRun(stale);
    expect(ended.status).toBe("KILLED");
    expect(ended.tags.failure_reason).toBe("process gone");
    expect(Math.abs(ended.endTime! - (Date.now() - staleFor))).toBeLessThan(10_000);
    expect((await registry.store.getRun(live)).status).toBe("RUNNING");
    expect((await registry.store.getRun(otherJob)).status).toBe("RUNNING");
  });
});
