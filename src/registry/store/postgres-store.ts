import { randomBytes } from "node:crypto";
import path from "node:path";
import pg from "pg";
import { UnreachableError } from "../../config/errors.js";
import { isConnectionFailure } from "../../config/transient-failures.js";
import { silentLogger, type Logger } from "../../log/logger.js";
import { RegistryError } from "../errors.js";
import { migratePostgres } from "./migrations.js";
import { DEFAULT_RETRY_POLICY, withRetries, type RetryPolicy } from "./pg-retry.js";
import type { SqlDatabase, SqlExecutor, SqlValue } from "./sql-database.js";
import { SqlStore } from "./sql-store.js";

export interface PostgresStoreOptions {
  /** Schema holding the tables (created if missing). Default: the connection's current schema. */
  schema?: string;
  /** Default: `./mldeploy-data/artifacts`, made absolute. */
  artifactRoot?: string;
  /** Pooled connections. Default 10. */
  poolSize?: number;
  /**
   * How long a transient failure (connection terminated or reset, server restarting,
   * serialization failure) is retried, with backoff from 100 ms doubling up to 2 s.
   * Default 10 000 ms; 0 = never.
   */
  retryForMs?: number;
  /** Retries and cut-off commits are logged here at warn. Default: nowhere. */
  logger?: Logger;
}

// Lower-case only: search_path folds unquoted names to lower case, CREATE SCHEMA "…" does not.
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

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

/** A pooled client lent to one read or transaction. */
interface Lease {
  client: pg.PoolClient;
  /** Back to the pool, or closed when its connection failed (or `broken`). */
  release(broken?: boolean): void;
}

/**
 * Borrows a client, noting an 'error' event while it is out of the pool: pg emits one on a
 * lent client whose connection dies (terminated, server restart), even just after a query of
 * it failed for the same reason; such a client is closed on release rather than reused.
 * (Every client also has a listener that ignores the event, see open(): an 'error' event with
 * no listener is an uncaught exception, and the process dies.)
 */
async function lease(pool: pg.Pool): Promise<Lease> {
  const client = await pool.connect();
  let failed = false;
  const onError = () => (failed = true);
  client.on("error", onError);
  return {
    client,
    release: (broken = false) => {
      client.release(broken || failed);
      client.removeListener("error", onError);
    },
  };
}

/**
 * The connection was lost while COMMIT was on its way: the transaction may or may not have
 * committed. Carries what the transaction returned, in case it did.
 */
class CommitOutcomeUnknown<T> extends Error {
  constructor(
    readonly token: string,
    readonly result: T,
    cause: unknown,
  ) {
    super(`connection lost during COMMIT: ${(cause as Error).message}`, { cause });
    this.name = "CommitOutcomeUnknown";
  }
}

// Markers older than this are deleted (at most every PRUNE_EVERY_MS by each process): a lost
// COMMIT is settled within seconds, so an hour is ample.
const MARKER_RETENTION_MS = 60 * 60 * 1000;
const PRUNE_EVERY_MS = 10 * 60 * 1000;

/**
 * Reads and transactions over a pg pool, retried through transient failures (a connection
 * terminated or reset, a server restarting, a serialization failure) with backoff:
 * - a read is retried as it is: it changes nothing;
 * - a transaction is retried when it is known to have rolled back as a whole: it failed before
 *   COMMIT (the server rolls back the transaction of a connection that dies), or COMMIT
 *   failed with an answer from the server;
 * - when the connection is lost during COMMIT itself the outcome is unknown, and running the
 *   transaction again could write twice (a second version number, metric points logged twice).
 *   So each transaction first inserts a random token into write_markers (in the BEGIN round
 *   trip), and after such a loss settle() inserts the same token, marked as the check's, on
 *   a new connection. The primary key decides: if the transaction committed, its marker is
 *   there; if it is still running (its COMMIT may yet arrive), the insert waits for it to end;
 *   if it rolled back, the check's marker goes in and records the answer, so that a check
 *   whose own COMMIT is lost finds it on its next attempt. Committed, its result is returned;
 *   not, it is run again; undecided when the retry time is up, the caller gets an error
 *   saying so, and nothing is run again.
 *   (Transaction ids and txid_status cannot settle this: after a crash the server can hand a
 *   lost transaction's id to another one, and report that one's outcome.)
 */
class PostgresDatabase implements SqlDatabase {
  // NO KEY UPDATE rather than UPDATE: it does not block the KEY SHARE locks that foreign-key
  // checks take (e.g. registering a version of a run that is logging metrics).
  readonly dialect = "postgres";
  readonly lockRow = " FOR NO KEY UPDATE";

  constructor(
    private readonly pool: pg.Pool,
    private readonly retry: RetryPolicy,
    private readonly logger: Logger,
    /** For messages: the URL without password. */
    private readonly description: string,
  ) {}

  /** When this process last pruned write_markers (0: prunes after its first commit). */
  private prunedAt = 0;

  read<T>(fn: (q: SqlExecutor) => Promise<T>): Promise<T> {
    return withRetries("read", this.retry, this.logger, async () => {
      const { client, release } = await lease(this.pool);
      try {
        return await fn(executor(client));
      } finally {
        release();
      }
    }).catch((error: unknown) => this.gaveUp(error));
  }

  write<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return withRetries("transaction", this.retry, this.logger, async () => {
      try {
        return await this.transaction(fn);
      } catch (error) {
        if (!(error instanceof CommitOutcomeUnknown)) throw error;
        return this.settle(error as CommitOutcomeUnknown<T>);
      }
    }).catch((error: unknown) => this.gaveUp(error));
  }

  /** A connection still failing once the retry time is up: an outage, not a bug. */
  private gaveUp(error: unknown): never {
    if (!isConnectionFailure(error)) throw error;
    const retried = this.retry.retryForMs > 0 ? ` (retried for ${this.retry.retryForMs} ms)` : "";
    throw new UnreachableError(
      `the registry's PostgreSQL ${this.description} is unreachable${retried}: ${(error as Error).message}`,
      { cause: error },
    );
  }

  isUniqueViolation(error: unknown): boolean {
    return sqlState(error) === "23505";
  }

  async close(): Promise<void> {
    // pg refuses a second end(); closing twice is harmless for the SQLite store, so here too.
    if (!this.pool.ended) await this.pool.end();
  }

  private async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const { client, release } = await lease(this.pool);
    const token = randomBytes(16).toString("hex");
    let broken = false;
    try {
      // One round trip, as BEGIN alone. The token is hex: safe to inline (the simple query
      // protocol that runs two statements at once takes no parameters).
      await client.query(
        `BEGIN; INSERT INTO write_markers (token, origin, created_at) ` +
          `VALUES ('${token}', 'transaction', ${Date.now()})`,
      );
      const result = await fn(executor(client));
      try {
        await client.query("COMMIT");
      } catch (error) {
        // An answer from the server (e.g. a serialization failure) means it rolled back.
        if (isConnectionFailure(error)) throw new CommitOutcomeUnknown(token, result, error);
        throw error;
      }
      this.pruneMarkers();
      return result;
    } catch (error) {
      // A connection that cannot even roll back is discarded rather than reused.
      if (!(error instanceof CommitOutcomeUnknown)) {
        await client.query("ROLLBACK").catch(() => (broken = true));
      } else {
        broken = true;
      }
      throw error;
    } finally {
      release(broken);
    }
  }

  /** What became of a transaction whose COMMIT was cut off (see the class comment). */
  private async settle<T>(lost: CommitOutcomeUnknown<T>): Promise<T> {
    const origin = await withRetries(
      "commit check",
      this.retry,
      this.logger,
      async () => {
        const { client, release } = await lease(this.pool);
        try {
          const results = (await client.query(
            `BEGIN; SET LOCAL statement_timeout = ${Math.max(this.retry.retryForMs, 1000)}; ` +
              `INSERT INTO write_markers (token, origin, created_at) ` +
              `VALUES ('${lost.token}', 'check', ${Date.now()}) ON CONFLICT (token) DO NOTHING; ` +
              `SELECT origin FROM write_markers WHERE token = '${lost.token}'; COMMIT`,
          )) as unknown as pg.QueryResult<{ origin: string }>[];
          return results[3].rows[0]?.origin;
        } catch (error) {
          await client.query("ROLLBACK").catch(() => undefined);
          throw error;
        } finally {
          release();
        }
      },
      isConnectionFailure,
    ).catch((error: unknown) => {
      throw new UnreachableError(
        "the registry's PostgreSQL connection was lost while a change was being committed, " +
          "and whether it was saved could not be checked: look before doing it again " +
          `(${(error as Error).message})`,
        { cause: error },
      );
    });
    const committed = origin === "transaction";
    this.logger.warn({ committed }, "registry PostgreSQL COMMIT was cut off; settled");
    if (committed) return lost.result;
    throw lost.cause; // rolled back: withRetries runs it again
  }

  /** Deletes old write markers, now and then, in the background (a failure is harmless). */
  private pruneMarkers(): void {
    const now = Date.now();
    if (now - this.prunedAt < PRUNE_EVERY_MS) return;
    this.prunedAt = now;
    void (async () => {
      const { client, release } = await lease(this.pool);
      try {
        await client.query("DELETE FROM write_markers WHERE created_at < $1", [
          now - MARKER_RETENTION_MS,
        ]);
      } finally {
        release();
      }
    })().catch((error: unknown) =>
      this.logger.debug({ err: (error as Error).message }, "pruning write markers failed"),
    );
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

export class PostgresStore extends SqlStore {
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
      // A host that stops answering (no RST: a dead machine, a dropped route) is noticed
      // rather than waited on forever; the failures then go through the retries.
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
      // Set on every pooled connection at connect time, so no query can run in another schema.
      ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
    });
    // An idle pooled connection that dies (server restart) must not crash the process; the
    // next query gets a fresh connection or reports the failure itself.
    pool.on("error", () => undefined);
    // pg-pool hands out a new client with no 'error' listener until the borrower adds one,
    // a microtask later: a backend terminated right after connecting (its FATAL in the same
    // packet as "ready") was an uncaught exception there. So every client always has one;
    // the failure itself reaches the borrower through its next query.
    pool.on("connect", (client) => client.on("error", () => undefined));
    try {
      const { client, release } = await lease(pool).catch((error: unknown) => {
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
        release();
      }
    } catch (error) {
      await pool.end();
      throw error;
    }
    const description = describePostgres(url, schema);
    const retry = {
      ...DEFAULT_RETRY_POLICY,
      retryForMs: options.retryForMs ?? DEFAULT_RETRY_POLICY.retryForMs,
    };
    const database = new PostgresDatabase(
      pool,
      retry,
      options.logger ?? silentLogger(),
      description,
    );
    return new PostgresStore(database, {
      artifactRoot: options.artifactRoot ?? path.resolve("mldeploy-data", "artifacts"),
      description,
    });
  }
}
