import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { afterAll, expect } from "vitest";
import { RegistryError, type RegistryErrorCode } from "../../../src/registry/errors.js";
import { tempDir } from "../../helpers/temp.js";

/**
 * Fresh directories for one test file (or describe block), all removed in afterAll:
 * tempDir()'s process-exit hook does not run in vitest's fork workers (checked with 4.1),
 * and the contract suite alone makes one directory per test.
 */
export function scratchDirs(): () => string {
  const root = tempDir("mldeploy-registry-store-");
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  return () => mkdtempSync(path.join(root, "t-"));
}

/**
 * The PostgreSQL the tests use: trust auth as the `postgres` role on 127.0.0.1, database
 * `test`. Override with MLDEPLOY_TEST_POSTGRES_URL. Every store test gets its own schema.
 */
export const PG_URL =
  process.env.MLDEPLOY_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export const NO_POSTGRES = `skipped: no PostgreSQL at ${PG_URL} (set MLDEPLOY_TEST_POSTGRES_URL)`;

// Children before parents, so foreign keys never object.
const TABLES = [
  "monitor_results",
  "deployments",
  "model_version_tags",
  "model_aliases",
  "model_versions",
  "registered_models",
  "latest_metrics",
  "metrics",
  "params",
  "run_tags",
  "runs",
  "experiment_keys",
  "experiment_tags",
  "experiments",
  "write_markers",
];

/** Random schema names for one test file; drop() removes every one handed out. */
export class TestSchemas {
  private readonly names: string[] = [];
  private admin: Promise<pg.Client> | undefined;

  next(): string {
    const name = `mldeploy_test_${randomBytes(6).toString("hex")}`;
    this.names.push(name);
    return name;
  }

  /**
   * Empties a migrated schema (a no-op before its first migration): much faster than
   * creating and migrating a schema per test, and leaves schema_migrations alone.
   */
  async empty(schema: string): Promise<void> {
    const client = await this.client();
    const found = await client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema]);
    if (found.rowCount === 0) return;
    await client.query(TABLES.map((table) => `DELETE FROM "${schema}".${table};`).join("\n"));
  }

  async drop(): Promise<void> {
    if (this.names.length === 0 && this.admin === undefined) return;
    const client = await this.client();
    try {
      for (const name of this.names.splice(0)) {
        await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
      }
    } finally {
      this.admin = undefined;
      await client.end();
    }
  }

  private client(): Promise<pg.Client> {
    this.admin ??= (async () => {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      return client;
    })();
    return this.admin;
  }
}

/** Awaits a promise that must reject with a RegistryError of this code naming `fragments`. */
export async function expectRegistryError(
  promise: Promise<unknown>,
  code: RegistryErrorCode,
  ...fragments: string[]
): Promise<RegistryError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected a ${code} RegistryError`).toBeInstanceOf(RegistryError);
  const registryError = error as RegistryError;
  expect(registryError.code, registryError.message).toBe(code);
  for (const fragment of fragments) expect(registryError.message).toContain(fragment);
  return registryError;
}
