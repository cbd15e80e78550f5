import cliProgress from "cli-progress";
import type { Logger } from "../log/logger.js";

export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

/**
 * A progress bar with rate and ETA when stderr is a terminal; otherwise (CI, pipes, containers)
 * a structured log line at most every few seconds, so logs stay readable.
 */
export function createProgress(
  label: string,
  logger: Logger,
  stream: NodeJS.WriteStream = process.stderr,
): Progress {
  if (stream.isTTY && !process.env.CI) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label.padEnd(14)} [{bar}] {percentage}% | {value}/{total} | {rate}/s | ETA {eta_formatted}`,
        stream,
        hideCursor: true,
        clearOnComplete: false,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    const startedAt = Date.now();
    return {
      update(done, total) {
        if (!started) {
          bar.start(total, 0, { rate: "0" });
          started = true;
        }
        const seconds = Math.max((Date.now() - startedAt) / 1000, 1e-3);
        bar.setTotal(total);
        bar.update(done, { rate: Math.round(done / seconds).toLocaleString("en-US") });
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  let lastLog = 0;
  return {
    update(done, total) {
      const now = Date.now();
      if (now - lastLog < 5000 && done < total) return;
      lastLog = now;
      logger.info({ task: label, done, total }, "progress");
    },
    stop() {},
  };
}
