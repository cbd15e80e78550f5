import path from "node:path";
import type { Logger } from "../../log/logger.js";
import { RegistryError } from "../errors.js";
import { HttpStore } from "./http-store.js";
import { PostgresStore } from "./postgres-store.js";
import { SqliteStore } from "./sqlite-store.js";
import type { RegistryStore } from "./types.js";

export const DEFAULT_DATA_DIR = "./mldeploy-data";

export interface OpenStoreOptions {
  /** Holds the default SQLite file and artifacts. Default `./mldeploy-data`. */
  dataDir?: string;
  /** Where experiments created without a location put artifacts. Default `<dataDir>/artifacts`. */
  artifactRoot?: string;
  /** Bearer token for an http(s) registry-server (default MLDEPLOY_REGISTRY_TOKEN). */
  token?: string;
  /** Where a PostgreSQL store logs the transient failures it retries. Default: nowhere. */
  logger?: Logger;
}

/** What a registry URL points at, before anything is opened. */
export type StoreTarget =
  | { kind: "sqlite"; file: string }
  | { kind: "postgres"; url: string; schema?: string }
  | { kind: "http"; url: string };

const HINT =
  "set MLDEPLOY_REGISTRY_URL to sqlite:<path>, postgres://user@host/db[?schema=name] " +
  "or leave it unset for <dataDir>/registry.db";

function invalid(message: string): RegistryError {
  return new RegistryError("INVALID_VALUE", message);
}

function sqliteTarget(url: string): StoreTarget {
  // sqlite:relative.db, sqlite:/abs.db and sqlite:///abs.db
  const rest = url.slice("sqlite:".length);
  const file = rest.startsWith("//") ? rest.slice(2) : rest;
  if (file === "") throw invalid(`registry URL "${url}" names no file; ${HINT}`);
  return { kind: "sqlite", file };
}

function postgresTarget(url: string): StoreTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not every libpq-style URL is a WHATWG URL (e.g. an empty host for a Unix socket);
    // those go to pg unchanged, just without ?schema= support.
    return { kind: "postgres", url };
  }
  const schema = parsed.searchParams.get("schema");
  if (schema === null) return { kind: "postgres", url };
  parsed.searchParams.delete("schema");
  return { kind: "postgres", url: parsed.toString(), schema };
}

/** Parses a registry URL (MLDEPLOY_REGISTRY_URL); undefined or "" means the default file. */
export function parseStoreUrl(url: string | undefined, dataDir = DEFAULT_DATA_DIR): StoreTarget {
  if (url === undefined || url.trim() === "") {
    return { kind: "sqlite", file: path.join(dataDir, "registry.db") };
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case "sqlite":
      return sqliteTarget(url);
    case "postgres":
    case "postgresql":
      return postgresTarget(url);
    case "http":
    case "https":
      return { kind: "http", url };
    case undefined:
      throw invalid(`registry URL "${url}" has no scheme; ${HINT}`);
    default:
      // Only the scheme is echoed: the rest may hold credentials.
      throw invalid(`unsupported registry URL scheme "${scheme}:"; ${HINT}`);
  }
}

/** Opens the registry store (tracking and model registry) that a registry URL names. */
export async function openStore(
  url?: string,
  options: OpenStoreOptions = {},
): Promise<RegistryStore> {
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
  const artifactRoot = options.artifactRoot ?? path.join(dataDir, "artifacts");
  const target = parseStoreUrl(url, dataDir);
  switch (target.kind) {
    case "sqlite":
      return SqliteStore.open(target.file, { artifactRoot });
    case "postgres":
      return PostgresStore.open(target.url, {
        schema: target.schema,
        artifactRoot,
        logger: options.logger,
      });
    case "http":
      // The server decides where artifacts go; artifactRoot applies to local stores only.
      return new HttpStore({ url: target.url, token: options.token });
  }
}
