import { describe, expect, it } from "vitest";
import { UserError } from "../../src/config/errors.js";
import { durationMs, scheduleFromSettings } from "../../src/schedule/schedule.js";

describe("scheduleFromSettings (--every / --cron of batch and monitor)", () => {
  it("reads --every as an interval, --cron as a pattern, and neither as run once", () => {
    expect(scheduleFromSettings({ every: "15m" })).toEqual({ everyMs: 900_000 });
    expect(scheduleFromSettings({ cron: "5 * * * *" })).toEqual({ cron: "5 * * * *" });
    expect(scheduleFromSettings({})).toBeUndefined();
  });

  it("refuses a cron pattern croner cannot parse, naming the setting", () => {
    expect(() => scheduleFromSettings({ cron: "every hour" })).toThrow(UserError);
    expect(() => scheduleFromSettings({ cron: "61 * * * *" })).toThrow(/invalid setting "cron"/);
  });

  it("converts every unit of a duration, and refuses what is not one", () => {
    expect([
      durationMs("500ms"),
      durationMs("2s"),
      durationMs("3m"),
      durationMs("1h"),
      durationMs("7d"),
    ]).toEqual([500, 2_000, 180_000, 3_600_000, 604_800_000]);
    expect(() => durationMs("1w")).toThrow(/not a duration/);
  });
});
