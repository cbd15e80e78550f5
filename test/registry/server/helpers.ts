import path from "node:path";
import { pino, type Logger } from "pino";
import { runRegistryServer, type RunningRegistryServer } from "../../../src/registry/server/run.js";
import { HttpStore, type HttpStoreOptions } from "../../../src/registry/store/http-store.js";
import { SqliteStore } from "../../../src/registry/store/sqlite-store.js";
import type { RegistryStore } from "../../../src/registry/store/types.js";
import { tempDir } from "../../helpers/temp.js";

export interface TestRegistry {
  /** The SQLite store behind the server, for reading what the client wrote. */
  local: SqliteStore;
  server: RunningRegistryServer;
  /** An HttpStore on the server, with the server's token. */
  client: HttpStore;
  url: string;
  close(): Promise<void>;
}

export interface StartOptions {
  token?: string;
  artifactRoot?: string;
  /** Backing store; default a fresh SQLite file. */
  store?: RegistryStore;
  logger?: Logger;
  client?: Partial<HttpStoreOptions>;
  /**
   * Artifact roots the server allows besides its store's. Unset: no root check at all, so
   * that tests about other things can register any source.
   */
  allowedArtifactRoots?: string[];
}

/** A real registry server on 127.0.0.1, a free port, over a fresh SQLite file. */
export async function startRegistry(options: StartOptions = {}): Promise<TestRegistry> {
  const local = await SqliteStore.open(path.join(tempDir("mldeploy-registry-"), "registry.db"), {
    artifactRoot: options.artifactRoot,
  });
  const server = await runRegistryServer({
    store: options.store ?? local,
    host: "127.0.0.1",
    port: 0,
    token: options.token,
    logger: options.logger,
    allowedArtifactRoots: options.allowedArtifactRoots,
    anyArtifactLocation: options.allowedArtifactRoots === undefined,
  });
  const client = new HttpStore({ url: server.url, token: options.token, ...options.client });
  return {
    local,
    server,
    client,
    url: server.url,
    close: async () => {
      await client.close();
      await server.close();
      await local.close();
    },
  };
}

/** An HttpStore that also stops its server and backing store when closed (for the contract suite). */
export class OwningHttpStore extends HttpStore {
  constructor(
    options: HttpStoreOptions,
    private readonly release: () => Promise<void>,
  ) {
    super(options);
  }

  override async close(): Promise<void> {
    await super.close();
    await this.release();
  }
}

/** A logger whose lines (parsed) land in `lines`. */
export function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: "debug" },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { logger, lines };
}

/** Code and message of a rejected call, or "ok": to compare a remote call with a local one. */
export async function outcome(
  promise: Promise<unknown>,
): Promise<{ name: string; code?: string; message: string } | "ok"> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    const e = error as Error & { code?: string };
    return { name: e.name, code: e.code, message: e.message };
  }
}

/** A raw API request: what a non-mldeploy client (curl, Python) would send. */
export async function api(
  url: string,
  method: string,
  route: string,
  options: { body?: string | object; token?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["content-type"] ??= "application/json";
    body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
  }
  const response = await fetch(url + route, { method, headers, body });
  const text = await response.text();
  return {
    status: response.status,
    body: text === "" ? undefined : (JSON.parse(text) as unknown),
    headers: response.headers,
  };
}
