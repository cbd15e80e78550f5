import { Cron } from "croner";
import { UserError } from "../config/errors.js";
import type { Logger } from "../log/logger.js";

export type Schedule = { everyMs: number } | { cron: string };

export interface ScheduleControl {
  /** Resolves when stop() is called: the current run is left to finish by the caller. */
  stopped: Promise<void>;
  isStopped(): boolean;
  stop(): void;
}

export function scheduleControl(): ScheduleControl {
  let stop: () => void = () => {};
  let done = false;
  const stopped = new Promise<void>((resolve) => {
    stop = () => {
      done = true;
      resolve();
    };
  });
  return { stopped, isStopped: () => done, stop: () => stop() };
}

/** When the next run is due after `from` (null when a cron pattern has no future date). */
export function nextRunAfter(schedule: Schedule, from: Date): Date | null {
  if ("everyMs" in schedule) return new Date(from.getTime() + schedule.everyMs);
  return new Cron(schedule.cron, { paused: true }).nextRun(from);
}

/** Throws a readable error for a cron pattern croner cannot parse. */
export function checkCron(pattern: string): void {
  new Cron(pattern, { paused: true }).stop();
}

/**
 * Runs `run` now and then on the schedule until stopped. Runs never overlap: the next one is
 * planned when the previous one ends. If a run overran one or more due times, a single run
 * starts at once to catch up (not one per missed slot), then the schedule resumes.
 */
export async function runOnSchedule(
  schedule: Schedule,
  run: () => Promise<void>,
  control: ScheduleControl,
  logger: Logger,
): Promise<void> {
  let due: Date | null = new Date();
  while (!control.isStopped() && due !== null) {
    const wait = due.getTime() - Date.now();
    if (wait > 0) {
      logger.info({ next: due.toISOString() }, `next run at ${due.toISOString()}`);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, wait);
        }),
        control.stopped,
      ]);
      clearTimeout(timer);
      if (control.isStopped()) break;
    }
    const startedAt = new Date();
    await run();
    const next = nextRunAfter(schedule, startedAt);
    if (next !== null && next.getTime() <= Date.now()) {
      logger.warn(
        { missed: next.toISOString() },
        "the run overran its next slot: catching up once now",
      );
      due = new Date();
    } else {
      due = next;
    }
  }
}

/** "15m" → 900000: the interval flags (--every, --window, --retry-delay) in milliseconds. */
export function durationMs(text: string): number {
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(text);
  if (!match) throw new Error(`not a duration: ${text}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
    match[2] as "ms" | "s" | "m" | "h" | "d"
  ];
  return Number(match[1]) * unit;
}

/**
 * The schedule `--every` / `--cron` ask for, or undefined to run once; a cron pattern croner
 * cannot parse is a UserError naming the setting.
 */
export function scheduleFromSettings(settings: {
  every?: string;
  cron?: string;
}): Schedule | undefined {
  if (settings.every !== undefined) return { everyMs: durationMs(settings.every) };
  if (settings.cron === undefined) return undefined;
  try {
    checkCron(settings.cron);
  } catch (error) {
    throw new UserError(`invalid setting "cron": ${(error as Error).message}`);
  }
  return { cron: settings.cron };
}
