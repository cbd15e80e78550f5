import type { Logger } from "../log/logger.js";

/** Where a model URI points now: a local bundle, and the version it is. */
export interface PointedModel {
  path: string;
  version?: string;
}

/**
 * Polls a movable model URI (a registry alias) and hands each new version to `swap`. A
 * registry that cannot be reached is logged and retried at the next tick; the caller's work
 * goes on with the model it has. Returns the function that stops polling.
 */
export function followModel<M extends PointedModel>(
  uri: string,
  initial: M,
  intervalMs: number,
  io: {
    resolve: (uri: string) => Promise<M>;
    swap: (model: M) => Promise<unknown>;
    logger: Logger;
  },
): () => void {
  let seen: PointedModel = initial;
  let busy = false;
  const tick = async () => {
    if (busy) return;
    busy = true;
    try {
      const next = await io.resolve(uri);
      // A version that failed to load is not retried at every tick: the next move of the alias is.
      if (next.version !== seen.version || next.path !== seen.path) {
        io.logger.info(
          { uri, from: seen.version, to: next.version },
          `${uri} moved to version ${next.version}`,
        );
        seen = next;
        await io.swap(next);
      }
    } catch (error) {
      io.logger.warn({ err: error, uri }, `could not check where ${uri} points; going on`);
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
