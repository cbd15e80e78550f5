import type BetterSqlite3 from "better-sqlite3";
import type { ClientBase } from "pg";
import { RegistryError } from "../errors.js";

/**
 * The schema, as an ordered list of migrations applied once each and recorded in
 * `schema_migrations`. Never edit a released migration: add the next one.
 */
export interface Migration {
  id: string;
  sqlite: string;
  postgres: string;
}

// The two dialects differ only in column types, so most migrations are one template.
// PostgreSQL names use the "C" collation so that ORDER BY name sorts by code point, as
// SQLite's default collation does, whatever the database's locale.
const TYPES = {
  sqlite: {
    serial: "INTEGER PRIMARY KEY",
    int: "INTEGER",
    real: "REAL",
    name: "TEXT",
    strict: " STRICT",
  },
  postgres: {
    serial: "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    int: "BIGINT",
    real: "DOUBLE PRECISION",
    name: 'TEXT COLLATE "C"',
    strict: "",
  },
};

function both(id: string, template: string): Migration {
  const render = (types: Record<string, string>) =>
    template.replace(/\{\{(\w+)\}\}/g, (_, key: string) => types[key]);
  return { id, sqlite: render(TYPES.sqlite), postgres: render(TYPES.postgres) };
}

export const MIGRATIONS_TABLE = both(
  "schema_migrations",
  `CREATE TABLE IF NOT EXISTS schema_migrations (
    id TEXT PRIMARY KEY,
    applied_at {{int}} NOT NULL
  ){{strict}}`,
);

// 0006: the distinct param, metric and tag keys of each experiment's runs (the columns its runs
// table offers), kept by the writes: reading them from params/latest_metrics/run_tags costs a
// scan of every run's keys (tens of ms at 10,000 runs). Filled here from what exists.
const EXPERIMENT_KEYS = both(
  "0006_run_keys",
  `CREATE TABLE experiment_keys (
    experiment_id TEXT NOT NULL REFERENCES experiments (id),
    kind TEXT NOT NULL CHECK (kind IN ('param', 'metric', 'tag')),
    key {{name}} NOT NULL,
    PRIMARY KEY (experiment_id, kind, key)
  ){{strict}};
  INSERT INTO experiment_keys (experiment_id, kind, key)
    SELECT DISTINCT r.experiment_id, 'param', k.key FROM params k JOIN runs r ON r.id = k.run_id;
  INSERT INTO experiment_keys (experiment_id, kind, key)
    SELECT DISTINCT r.experiment_id, 'metric', k.key
    FROM latest_metrics k JOIN runs r ON r.id = k.run_id;
  INSERT INTO experiment_keys (experiment_id, kind, key)
    SELECT DISTINCT r.experiment_id, 'tag', k.key FROM run_tags k JOIN runs r ON r.id = k.run_id;`,
);

/**
 * On SQLite, also rebuilds the (run_id, key) tables that run search reads once per run as
 * WITHOUT ROWID tables: a lookup is then one B-tree search instead of two (index, then row),
 * which makes a search over 10,000 runs about twice as cheap. PostgreSQL keeps its heap tables.
 */
function withoutRowid(table: string, columns: string): string {
  return `CREATE TABLE ${table}_new (
    ${columns},
    PRIMARY KEY (run_id, key)
  ) STRICT, WITHOUT ROWID;
  INSERT INTO ${table}_new SELECT * FROM ${table};
  DROP TABLE ${table};
  ALTER TABLE ${table}_new RENAME TO ${table};`;
}
const RUN_KEYS: Migration = {
  id: EXPERIMENT_KEYS.id,
  sqlite: [
    EXPERIMENT_KEYS.sqlite,
    withoutRowid(
      "params",
      "run_id TEXT NOT NULL REFERENCES runs (id), key TEXT NOT NULL, value TEXT NOT NULL",
    ),
    withoutRowid(
      "run_tags",
      "run_id TEXT NOT NULL REFERENCES runs (id), key TEXT NOT NULL, value TEXT NOT NULL",
    ),
    withoutRowid(
      "latest_metrics",
      "run_id TEXT NOT NULL REFERENCES runs (id), key TEXT NOT NULL, value REAL NOT NULL, " +
        "step INTEGER NOT NULL, timestamp INTEGER NOT NULL",
    ),
  ].join("\n"),
  postgres: EXPERIMENT_KEYS.postgres,
};

export const MIGRATIONS: readonly Migration[] = [
  both(
    "0001_tracking",
    `CREATE TABLE experiments (
      seq {{serial}},
      id TEXT NOT NULL UNIQUE,
      name {{name}} NOT NULL UNIQUE,
      artifact_location TEXT NOT NULL,
      created_at {{int}} NOT NULL
    ){{strict}};
    CREATE TABLE experiment_tags (
      experiment_id TEXT NOT NULL REFERENCES experiments (id),
      key {{name}} NOT NULL,
      value TEXT NOT NULL,
      PRIMARY KEY (experiment_id, key)
    ){{strict}};
    CREATE TABLE runs (
      seq {{serial}},
      id TEXT NOT NULL UNIQUE,
      experiment_id TEXT NOT NULL REFERENCES experiments (id),
      name TEXT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('RUNNING', 'FINISHED', 'FAILED', 'KILLED')),
      start_time {{int}} NOT NULL,
      end_time {{int}},
      artifact_uri TEXT NOT NULL
    ){{strict}};
    CREATE INDEX runs_newest_first ON runs (start_time DESC, seq DESC);
    CREATE INDEX runs_by_experiment ON runs (experiment_id, start_time DESC, seq DESC);
    CREATE TABLE params (
      run_id TEXT NOT NULL REFERENCES runs (id),
      key {{name}} NOT NULL,
      value TEXT NOT NULL,
      PRIMARY KEY (run_id, key)
    ){{strict}};
    CREATE TABLE run_tags (
      run_id TEXT NOT NULL REFERENCES runs (id),
      key {{name}} NOT NULL,
      value TEXT NOT NULL,
      PRIMARY KEY (run_id, key)
    ){{strict}};
    CREATE TABLE metrics (
      seq {{serial}},
      run_id TEXT NOT NULL REFERENCES runs (id),
      key {{name}} NOT NULL,
      value {{real}} NOT NULL,
      step {{int}} NOT NULL,
      timestamp {{int}} NOT NULL
    ){{strict}};
    CREATE INDEX metrics_history ON metrics (run_id, key, step, timestamp, seq);
    CREATE TABLE latest_metrics (
      run_id TEXT NOT NULL REFERENCES runs (id),
      key {{name}} NOT NULL,
      value {{real}} NOT NULL,
      step {{int}} NOT NULL,
      timestamp {{int}} NOT NULL,
      PRIMARY KEY (run_id, key)
    ){{strict}};`,
  ),
  both(
    "0002_model_registry",
    `CREATE TABLE registered_models (
      name {{name}} PRIMARY KEY,
      description TEXT NOT NULL,
      created_at {{int}} NOT NULL,
      updated_at {{int}} NOT NULL,
      last_version {{int}} NOT NULL DEFAULT 0
    ){{strict}};
    CREATE TABLE model_versions (
      name {{name}} NOT NULL REFERENCES registered_models (name),
      version {{int}} NOT NULL,
      run_id TEXT REFERENCES runs (id),
      source TEXT NOT NULL,
      signature TEXT,
      description TEXT NOT NULL,
      created_at {{int}} NOT NULL,
      PRIMARY KEY (name, version)
    ){{strict}};
    CREATE TABLE model_aliases (
      name {{name}} NOT NULL,
      alias {{name}} NOT NULL,
      version {{int}} NOT NULL,
      PRIMARY KEY (name, alias),
      FOREIGN KEY (name, version) REFERENCES model_versions (name, version)
    ){{strict}};`,
  ),
  // Used on PostgreSQL only, to settle a COMMIT whose connection was lost (postgres-store.ts);
  // created on SQLite too so that both keep one schema.
  both(
    "0003_write_markers",
    `CREATE TABLE write_markers (
      token TEXT PRIMARY KEY,
      origin TEXT NOT NULL CHECK (origin IN ('transaction', 'check')),
      created_at {{int}} NOT NULL
    ){{strict}};`,
  ),
  // Heartbeats of running serve, stream and scheduled batch processes (registry/deployments/).
  // follows: the alias (or "latest") the model URI follows, parsed once when the beat is stored.
  both(
    "0004_deployments",
    `CREATE TABLE deployments (
      id TEXT PRIMARY KEY,
      mode TEXT NOT NULL,
      host TEXT NOT NULL,
      pid {{int}} NOT NULL,
      endpoint TEXT NOT NULL,
      model_uri TEXT NOT NULL,
      model_name {{name}},
      model_version TEXT,
      follows {{name}},
      version_since {{int}} NOT NULL,
      started_at {{int}} NOT NULL,
      rate {{real}} NOT NULL,
      interval_ms {{int}} NOT NULL,
      last_beat_at {{int}} NOT NULL
    ){{strict}};`,
  ),
  // Model version tags (MLflow's model_version_tags). Versions registered before this
  // migration simply have none.
  both(
    "0005_model_version_tags",
    `CREATE TABLE model_version_tags (
      name {{name}} NOT NULL,
      version {{int}} NOT NULL,
      key {{name}} NOT NULL,
      value TEXT NOT NULL,
      PRIMARY KEY (name, version, key),
      FOREIGN KEY (name, version) REFERENCES model_versions (name, version)
    ){{strict}};`,
  ),
  RUN_KEYS,
  // Drift and error statistics of `mldeploy monitor`, one row per window, model version, metric
  // and column ('' for model-level metrics); a rerun over the same window replaces its rows.
  // No foreign keys: results outlive a deleted run, and a model may be monitored by URI alone.
  // The key leads with the window's end, so a version's newest windows are one index range; the
  // indexes serve the reads (everything newest first; the model-level rows the UI charts; one
  // metric over time).
  both(
    "0007_monitor_results",
    `CREATE TABLE monitor_results (
      model {{name}} NOT NULL,
      version {{name}} NOT NULL,
      window_start {{int}} NOT NULL,
      window_end {{int}} NOT NULL,
      metric {{name}} NOT NULL,
      column_name {{name}} NOT NULL,
      value {{real}},
      run_id TEXT,
      updated_at {{int}} NOT NULL,
      PRIMARY KEY (model, version, window_end, window_start, metric, column_name)
    ){{strict}};
    CREATE INDEX monitor_results_newest_first
      ON monitor_results (model, window_end DESC, window_start DESC);
    CREATE INDEX monitor_results_by_column
      ON monitor_results (model, column_name, window_end DESC, window_start DESC);
    CREATE INDEX monitor_results_by_metric
      ON monitor_results (model, metric, window_end DESC, window_start DESC);`,
  ),
];

/** The migrations still to apply, in order; refuses a database written by a newer mldeploy. */
export function pendingMigrations(
  appliedIds: readonly string[],
  migrations: readonly Migration[] = MIGRATIONS,
): Migration[] {
  const known = new Set(migrations.map((m) => m.id));
  const unknown = appliedIds.filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new RegistryError(
      "INVALID_STATE",
      `the registry database has migrations this mldeploy does not know (${unknown.join(", ")}): ` +
        "it was written by a newer version; upgrade mldeploy",
    );
  }
  const applied = new Set(appliedIds);
  return migrations.filter((m) => !applied.has(m.id));
}

function sqliteApplied(db: BetterSqlite3.Database): string[] {
  const table = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
    .get();
  if (table === undefined) return [];
  return db
    .prepare("SELECT id FROM schema_migrations")
    .all()
    .map((row) => (row as { id: string }).id);
}

/**
 * Brings a SQLite database up to date; returns the ids applied. BEGIN IMMEDIATE takes the
 * write lock before reading what is applied, so of two processes opening a fresh file at
 * once, the second waits (busy_timeout) and then finds nothing left to do.
 */
export function migrateSqlite(
  db: BetterSqlite3.Database,
  migrations: readonly Migration[] = MIGRATIONS,
): string[] {
  // The common case (up to date) needs no write lock.
  if (pendingMigrations(sqliteApplied(db), migrations).length === 0) return [];
  db.exec("BEGIN IMMEDIATE");
  try {
    db.exec(MIGRATIONS_TABLE.sqlite);
    const pending = pendingMigrations(sqliteApplied(db), migrations);
    const record = db.prepare("INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)");
    for (const migration of pending) {
      db.exec(migration.sqlite);
      record.run(migration.id, Date.now());
    }
    db.exec("COMMIT");
    return pending.map((m) => m.id);
  } catch (error) {
    if (db.inTransaction) db.exec("ROLLBACK");
    throw error;
  }
}

// First key of pg_advisory_xact_lock(int, int); the second is a hash of the schema name, so
// only openers of the same schema wait for each other.
const MIGRATION_LOCK = 0x6d6c6470; // "mldp"

async function postgresApplied(client: ClientBase, schema: string): Promise<string[]> {
  const table = await client.query(
    "SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'schema_migrations'",
    [schema],
  );
  if (table.rowCount === 0) return [];
  const rows = await client.query<{ id: string }>("SELECT id FROM schema_migrations");
  return rows.rows.map((row) => row.id);
}

async function schemaExists(client: ClientBase, schema: string): Promise<boolean> {
  const found = await client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema]);
  return (found.rowCount ?? 0) > 0;
}

/**
 * Brings a PostgreSQL schema up to date (creating the schema if needed); returns the ids
 * applied. The transaction-scoped advisory lock serializes concurrent openers, including the
 * CREATE SCHEMA, which is not safe to run concurrently even with IF NOT EXISTS. The client's
 * search_path must already point at `schema`.
 */
export async function migratePostgres(
  client: ClientBase,
  schema: string,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<string[]> {
  // The common case (up to date) needs neither a lock nor the right to create schemas.
  if (
    (await schemaExists(client, schema)) &&
    pendingMigrations(await postgresApplied(client, schema), migrations).length === 0
  ) {
    return [];
  }
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [MIGRATION_LOCK, schema]);
    if (!(await schemaExists(client, schema))) {
      await client.query(`CREATE SCHEMA ${quoteIdentifier(schema)}`);
    }
    await client.query(MIGRATIONS_TABLE.postgres);
    const pending = pendingMigrations(await postgresApplied(client, schema), migrations);
    for (const migration of pending) {
      await client.query(migration.postgres);
      await client.query("INSERT INTO schema_migrations (id, applied_at) VALUES ($1, $2)", [
        migration.id,
        Date.now(),
      ]);
    }
    await client.query("COMMIT");
    return pending.map((m) => m.id);
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
