import { describe, expect, it } from "vitest";
import { nextRunAfter, runOnSchedule, scheduleControl } from "../../src/schedule/schedule.js";
import { quietLogger } from "./helpers.js";

describe("runOnSchedule", () => {
  it("never overlaps runs, and catches up once (not once per missed slot) after a run overran", async () => {
    const control = scheduleControl();
    const starts: number[] = [];
    let running = 0;
    let overlapped = false;
    const begin = Date.now();
    await runOnSchedule(
      { everyMs: 100 },
      async () => {
        overlapped ||= running > 0;
        running++;
        starts.push(Date.now() - begin);
        // The first run overruns three slots; the rest are quick.
        await new Promise((resolve) => setTimeout(resolve, starts.length === 1 ? 350 : 5));
        running--;
        if (starts.length === 4) control.stop();
      },
      control,
      quietLogger(),
    );
    expect(overlapped).toBe(false);
    expect(starts).toHaveLength(4);
    // Run 2 is the single catch-up right after run 1; run 3 waits for its slot again.
    expect(starts[1] - starts[0]).toBeGreaterThanOrEqual(340);
    expect(starts[1] - starts[0]).toBeLessThan(450);
    expect(starts[2] - starts[1]).toBeGreaterThanOrEqual(90);
  });

  it("stops while waiting for the next slot without starting another run", async () => {
    const control = scheduleControl();
    let runs = 0;
    const pending = runOnSchedule(
      { everyMs: 60_000 },
      async () => void runs++,
      control,
      quietLogger(),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    control.stop();
    await pending;
    expect(runs).toBe(1);
  });

  it("computes cron slots with croner", () => {
    const next = nextRunAfter({ cron: "0 * * * *" }, new Date("2026-11-26T10:15:00Z"));
    expect(next?.toISOString()).toBe("2026-11-26T11:00:00.000Z");
  });
});
