import { UserError } from "../config/errors.js";
import type { Logger } from "../log/logger.js";
import { RegistryError } from "./errors.js";
import type { LocalModel, Registry } from "./registry.js";

/** Where a model URI points now: a local bundle, and the version it is. */
export interface PointedModel {
  path: string;
  version?: string;
}

/**
 * What a resolver throws when the URI points at a version whose files cannot be had (deleted,
 * corrupt): that version failed to load, unlike a registry that cannot be reached.
 */
export class UnavailableVersionError extends Error {
  constructor(
    readonly uri: string,
    readonly version: string,
    cause: unknown,
  ) {
    super(
      `${uri} points at version ${version}, whose files cannot be read: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.name = "UnavailableVersionError";
  }
}

/**
 * Polls a movable model URI (a registry alias) and hands each new version to `swap`. A
 * registry that cannot be reached is logged and retried at the next tick; the caller's work
 * goes on with the model it has. A version whose files are missing (the resolver throws
 * UnavailableVersionError) is a failed reload: logged once and handed to `failed`, like a
 * version that does not load. Returns the function that stops polling.
 */
export function followModel<M extends PointedModel>(
  uri: string,
  initial: M,
  intervalMs: number,
  io: {
    resolve: (uri: string) => Promise<M>;
    swap: (model: M) => Promise<unknown>;
    /** Called once per version that could not be fetched. */
    failed?: (error: UnavailableVersionError) => void;
    logger: Logger;
  },
): () => void {
  let seen: PointedModel = initial;
  let serving = initial.version;
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
        // swap says false when the version did not load (the old one serves on).
        if ((await io.swap(next)) !== false) serving = next.version;
      }
    } catch (error) {
      if (error instanceof UnavailableVersionError) {
        if (error.version !== seen.version) {
          seen = { path: "", version: error.version };
          io.logger.error(
            { uri, version: error.version, serving, err: error.message },
            `could not load version ${error.version} of ${uri}: its files cannot be read; still serving version ${serving}`,
          );
          io.failed?.(error);
        }
      } else {
        io.logger.warn({ err: error, uri }, `could not check where ${uri} points; going on`);
      }
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * registry.resolveModel for a URI being followed, telling apart a version whose files are
 * missing or corrupt (UnavailableVersionError: a failed reload) from a registry that cannot be
 * reached (thrown as it is, and retried at the next poll).
 */
export async function resolveFollowedModel(
  registry: Pick<Registry, "resolveModel" | "modelVersionFor">,
  uri: string,
): Promise<LocalModel> {
  try {
    return await registry.resolveModel(uri);
  } catch (error) {
    // A user-fixable error (RegistryError is one) is about the version's files; others, such as
    // a connection refused, about reaching the registry.
    const unauthorized = error instanceof RegistryError && error.code === "UNAUTHORIZED";
    if (!(error instanceof UserError) || unauthorized) throw error;
    const version = await registry.modelVersionFor(uri).catch(() => undefined);
    if (version === undefined) throw error;
    throw new UnavailableVersionError(uri, String(version.version), error);
  }
}
