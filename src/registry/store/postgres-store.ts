import path from "node:path";
import pg from "pg";
import { UnreachableError } from "../../config/errors.js";
import { RegistryError } from "../errors.js";
import { migratePostgres } from "./migrations.js";
import type { SqlDatabase, SqlExecutor, SqlValue } from "./sql-database.js";
import { SqlTrackingStore } from "./sql-store.js";

export interface PostgresStoreOptions {
  /** Schema holding the tables (created if missing). Default: the connection's current schema. */
  schema?: string;
  /** Default: `./mldeploy-data/artifacts`, made absolute. */
  artifactRoot?: string;
  /** Pooled connections. Default 10. */
  poolSize?: number;
}

// Lower-case only: search_path folds unquoted names to lower case, CREATE SCHEMA "…" does not.
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

// Deadlock and serialization failures: the transaction was rolled back and can simply rerun.
const RETRYABLE = new Set(["40P01", "40001"]);
const ATTEMPTS = 3;

function sqlState(error: unknown): unknown {
  return typeof error === "object" && error !== null && "code" in error ? error.code : undefined;
}

/** `?` placeholders to PostgreSQL's `$1, $2…` (statements contain no literal "?"). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

function executor(client: pg.PoolClient): SqlExecutor {
  return {
    query: async <T extends object>(sql: string, params: readonly SqlValue[] = []) =>
      (await client.query(numbered(sql), [...params])).rows as T[],
    run: async (sql: string, params: readonly SqlValue[] = []) =>
      (await client.query(numbered(sql), [...params])).rowCount ?? 0,
  };
}

class PostgresDatabase implements SqlDatabase {
  // NO KEY UPDATE rather than UPDATE: it does not block the KEY SHARE locks that foreign-key
  // checks take (e.g. registering a version of a run that is logging metrics).
  readonly lockRow = " FOR NO KEY UPDATE";

  constructor(private readonly pool: pg.Pool) {}

  async read<T>(fn: (q: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      return await fn(executor(client));
    } finally {
      client.release();
    }
  }

  async write<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.transaction(fn);
      } catch (error) {
        if (attempt >= ATTEMPTS || !RETRYABLE.has(String(sqlState(error)))) throw error;
      }
    }
  }

  isUniqueViolation(error: unknown): boolean {
    return sqlState(error) === "23505";
  }

  async close(): Promise<void> {
    // pg refuses a second end(); closing twice is harmless for the SQLite store, so here too.
    if (!this.pool.ended) await this.pool.end();
  }

  private async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query("BEGIN");
      const result = await fn(executor(client));
      await client.query("COMMIT");
      return result;
    } catch (error) {
      // A connection that cannot even roll back is discarded rather than reused.
      await client.query("ROLLBACK").catch(() => (broken = true));
      throw error;
    } finally {
      client.release(broken);
    }
  }
}

/** The URL without its password (and with the schema), for logs and `mldeploy info`. */
export function describePostgres(url: string, schema: string | undefined): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "postgres (unparsable connection string)";
  }
  parsed.password = "";
  parsed.search = "";
  if (schema !== undefined) parsed.searchParams.set("schema", schema);
  return parsed.toString();
}

export class PostgresStore extends SqlTrackingStore {
  /** Connects, creates the schema if needed and migrates it. */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const { schema } = options;
    if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
      throw new RegistryError(
        "INVALID_NAME",
        `invalid PostgreSQL schema name "${schema}": use lower-case letters, digits and '_'`,
      );
    }
    const pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? 10,
      // Set on every pooled connection at connect time, so no query can run in another schema.
      ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
    });
    // An idle pooled connection that dies (server restart) must not crash the process; the
    // next query gets a fresh connection or reports the failure itself.
    pool.on("error", () => undefined);
    try {
      const client = await pool.connect().catch((error: unknown) => {
        throw new UnreachableError(
          `cannot connect to the registry's PostgreSQL ${describePostgres(url, schema)}: ${(error as Error).message}`,
          { cause: error },
        );
      });
      try {
        const current = await client.query<{ schema: string | null }>(
          "SELECT current_schema() AS schema",
        );
        const target = schema ?? current.rows[0]?.schema;
        if (target === undefined || target === null) {
          throw new RegistryError(
            "INVALID_STATE",
            "the PostgreSQL search_path names no existing schema: pass one with ?schema=<name>",
          );
        }
        await migratePostgres(client, target);
      } finally {
        client.release();
      }
    } catch (error) {
      await pool.end();
      throw error;
    }
    return new PostgresStore(new PostgresDatabase(pool), {
      artifactRoot: options.artifactRoot ?? path.resolve("mldeploy-data", "artifacts"),
      description: describePostgres(url, schema),
    });
  }
}
