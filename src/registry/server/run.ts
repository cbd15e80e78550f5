import type { FastifyInstance } from "fastify";
import { silentLogger, type Logger } from "../../log/logger.js";
import type { RegistryStore } from "../store/types.js";
import { buildRegistryServer } from "./app.js";
import { registryServerOptionsSchema } from "./options.js";

export {
  parseRegistryServerOptions,
  registryServerOptionsSchema,
  type RegistryServerSettings,
  type RegistryServerSettingsInput,
} from "./options.js";

export interface RunRegistryServerInput {
  /** Opened by the caller (e.g. openStore(registryUrl)); not closed by close(). */
  store: RegistryStore;
  host?: string;
  port?: number;
  token?: string;
  /** Reads without a token (see buildRegistryServer). */
  publicRead?: boolean;
  bodyLimitBytes?: number;
  logger?: Logger;
  /** Where clients may point artifacts besides the store's artifact root (see buildRegistryServer). */
  allowedArtifactRoots?: readonly string[];
  /** No artifact root check: for tests and embedders that check elsewhere. */
  anyArtifactLocation?: boolean;
  /** Also serve the web UI at `/` (see buildRegistryServer). */
  ui?: boolean;
}

export interface RunningRegistryServer {
  /** Where clients connect: set MLDEPLOY_REGISTRY_URL to this. */
  url: string;
  app: FastifyInstance;
  /**
   * Stops accepting; in-flight requests finish, idle keep-alive connections are closed. A
   * response still being sent after `graceMs` (a browser that stopped reading a download) has
   * its connection closed, so that a shutdown never waits on a client.
   */
  close(graceMs?: number): Promise<void>;
}

/** How long close() lets responses in flight finish before it closes their connections. */
export const SHUTDOWN_GRACE_MS = 10_000;

const LOOPBACK = /^(127\.|localhost$|::1$|\[::1\]$)/;

/**
 * Listens with the registry API over `store`. Signal handling is the caller's: on SIGTERM call
 * close(), then close the store.
 */
export async function runRegistryServer(
  input: RunRegistryServerInput,
): Promise<RunningRegistryServer> {
  const settings = registryServerOptionsSchema
    .pick({ host: true, port: true, bodyLimitBytes: true })
    .parse({ host: input.host, port: input.port, bodyLimitBytes: input.bodyLimitBytes });
  const logger = input.logger ?? silentLogger();
  const app = await buildRegistryServer(input.store, {
    token: input.token,
    publicRead: input.publicRead,
    logger,
    bodyLimitBytes: settings.bodyLimitBytes,
    allowedArtifactRoots: input.allowedArtifactRoots,
    anyArtifactLocation: input.anyArtifactLocation,
    ui: input.ui,
  });
  await app.listen({ host: settings.host, port: settings.port });
  const url = listeningUrl(app, settings.host);

  if (input.token === undefined && !LOOPBACK.test(settings.host)) {
    logger.warn(
      { host: settings.host },
      "registry server reachable from other machines without a token: anyone who can connect can change the registry",
    );
  }
  const publicRead = input.token !== undefined && input.publicRead === true;
  if (input.token === undefined && input.publicRead === true) {
    logger.warn("--public-read has no effect without a token: every request is answered anyway");
  }
  logger.info(
    {
      url,
      store: input.store.description,
      auth: input.token !== undefined,
      ...(publicRead ? { publicRead } : {}),
    },
    `registry server for ${input.store.description} at ${url}` +
      (publicRead ? " (reads need no token, writes do)" : ""),
  );

  let closing: Promise<void> | undefined;
  return {
    url,
    app,
    close: (graceMs = SHUTDOWN_GRACE_MS) =>
      (closing ??= (async () => {
        const timer = setTimeout(() => {
          logger.warn(
            { graceMs },
            "responses still in flight after the grace period: closing them",
          );
          app.server.closeAllConnections();
        }, graceMs);
        timer.unref();
        try {
          await app.close();
        } finally {
          clearTimeout(timer);
        }
      })()),
  };
}

function listeningUrl(app: FastifyInstance, host: string): string {
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  // 0.0.0.0 and :: are where we listen, not an address a client can connect to.
  const shown =
    host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}
