import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import {
  MIGRATIONS,
  migratePostgres,
  migrateSqlite,
  pendingMigrations,
  type Migration,
} from "../../../src/registry/store/migrations.js";
import { PostgresStore } from "../../../src/registry/store/postgres-store.js";
import { SqliteStore } from "../../../src/registry/store/sqlite-store.js";
import {
  expectRegistryError,
  NO_POSTGRES,
  PG_URL,
  postgresReachable,
  TestSchemas,
  scratchDirs,
} from "./helpers.js";

const scratch = scratchDirs();

const IDS = MIGRATIONS.map((m) => m.id);
const TABLES = [
  "deployments",
  "experiment_keys",
  "experiment_tags",
  "experiments",
  "latest_metrics",
  "metrics",
  "model_aliases",
  "model_version_tags",
  "model_versions",
  "monitor_results",
  "params",
  "registered_models",
  "run_tags",
  "runs",
  "schema_migrations",
  "write_markers",
];

const BROKEN: Migration = {
  id: "9999_broken",
  sqlite: "CREATE TABLE half_done (a INTEGER); SELECT * FROM no_such_table;",
  postgres: "CREATE TABLE half_done (a INTEGER); SELECT * FROM no_such_table;",
};

describe("migration plan", () => {
  it("lists what is not applied yet, in order", () => {
    expect(pendingMigrations([]).map((m) => m.id)).toEqual(IDS);
    expect(pendingMigrations(IDS.slice(0, 1)).map((m) => m.id)).toEqual(IDS.slice(1));
    expect(pendingMigrations(IDS)).toEqual([]);
  });

  it("has unique, ordered ids", () => {
    expect(new Set(IDS).size).toBe(IDS.length);
    expect([...IDS].sort()).toEqual(IDS);
  });

  it("refuses a database migrated by a newer version", () => {
    expect(() => pendingMigrations([...IDS, "9999_future"])).toThrow(/9999_future.*newer/);
  });
});

describe("SQLite migrations", () => {
  function sqliteFile(): string {
    return path.join(scratch(), "registry.db");
  }

  function inspect(file: string) {
    const db = new Database(file, { readonly: true });
    try {
      return {
        tables: db
          .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
          .all()
          .map((row) => (row as { name: string }).name),
        migrations: db
          .prepare("SELECT id, applied_at FROM schema_migrations ORDER BY id")
          .all() as { id: string; applied_at: number }[],
        journal: db.pragma("journal_mode", { simple: true }),
      };
    } finally {
      db.close();
    }
  }

  it("gives a fresh database the whole schema, in WAL mode, and records each migration", async () => {
    const file = sqliteFile();
    await (await SqliteStore.open(file)).close();
    const state = inspect(file);
    expect(state.tables).toEqual(TABLES);
    expect(state.migrations.map((m) => m.id)).toEqual(IDS);
    expect(state.journal).toBe("wal");
  });

  it("does not reapply anything when opened again", async () => {
    const file = sqliteFile();
    await (await SqliteStore.open(file)).close();
    const before = inspect(file).migrations;
    await (await SqliteStore.open(file)).close();
    expect(inspect(file).migrations).toEqual(before);
    const db = new Database(file);
    expect(migrateSqlite(db)).toEqual([]);
    db.close();
  });

  it("applies only the missing migrations to an older database", async () => {
    const file = sqliteFile();
    const db = new Database(file);
    expect(migrateSqlite(db, MIGRATIONS.slice(0, 1))).toEqual(IDS.slice(0, 1));
    db.close();
    const first = inspect(file).migrations;
    expect(first.map((m) => m.id)).toEqual(IDS.slice(0, 1));
    await (await SqliteStore.open(file)).close();
    const after = inspect(file).migrations;
    expect(after.map((m) => m.id)).toEqual(IDS);
    expect(after[0]).toEqual(first[0]);
  });

  it("keeps versions registered before model version tags existed, with no tags", async () => {
    const file = sqliteFile();
    const db = new Database(file);
    const before = MIGRATIONS.filter((m) => m.id < "0005_model_version_tags");
    migrateSqlite(db, before);
    db.prepare(
      "INSERT INTO registered_models (name, description, created_at, updated_at, last_version) " +
        "VALUES ('old', '', 1, 1, 1)",
    ).run();
    db.prepare(
      "INSERT INTO model_versions (name, version, run_id, source, signature, description, " +
        "created_at) VALUES ('old', 1, NULL, '/m', NULL, '', 1)",
    ).run();
    db.close();
    const store = await SqliteStore.open(file);
    try {
      expect(await store.getModelVersion("old", 1)).toMatchObject({ version: 1, tags: {} });
      await store.setModelVersionTags("old", 1, { validated: "true" });
      expect((await store.getModelVersion("old", 1)).tags).toEqual({ validated: "true" });
      expect((await store.createModelVersion({ name: "old", source: "/n" })).version).toBe(2);
    } finally {
      await store.close();
    }
  });

  it("0006 fills experiment_keys from the runs logged before it and rebuilds the key tables", () => {
    const db = new Database(sqliteFile());
    const before = MIGRATIONS.filter((m) => m.id < "0006");
    migrateSqlite(db, before);
    const run = (sql: string) => db.exec(sql);
    run(
      "INSERT INTO experiments (id, name, artifact_location, created_at) VALUES ('e1', 'a', '/x', 1)",
    );
    run(
      "INSERT INTO experiments (id, name, artifact_location, created_at) VALUES ('e2', 'b', '/x', 1)",
    );
    for (const [id, experiment] of [
      ["r1", "e1"],
      ["r2", "e1"],
      ["r3", "e2"],
    ]) {
      run(
        "INSERT INTO runs (id, experiment_id, name, status, start_time, artifact_uri) " +
          `VALUES ('${id}', '${experiment}', '${id}', 'RUNNING', 1, '/x')`,
      );
    }
    run("INSERT INTO params VALUES ('r1', 'alpha', '0'), ('r2', 'alpha', '1'), ('r2', 'lr', '1')");
    run("INSERT INTO latest_metrics VALUES ('r1', 'rmse', 1, 0, 1), ('r3', 'loss', 1, 0, 1)");
    run("INSERT INTO run_tags VALUES ('r2', 'team', 'ml')");
    expect(migrateSqlite(db)).toEqual(IDS.filter((id) => id >= "0006"));
    expect(
      db
        .prepare("SELECT experiment_id, kind, key FROM experiment_keys ORDER BY 1, 2, 3")
        .raw()
        .all(),
    ).toEqual([
      ["e1", "metric", "rmse"],
      ["e1", "param", "alpha"],
      ["e1", "param", "lr"],
      ["e1", "tag", "team"],
      ["e2", "metric", "loss"],
    ]);
    // The (run_id, key) tables were rebuilt without rowid, their rows kept.
    for (const table of ["params", "latest_metrics", "run_tags"]) {
      const { sql } = db
        .prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?")
        .get(table) as { sql: string };
      expect(sql).toContain("WITHOUT ROWID");
    }
    expect(db.prepare("SELECT * FROM params ORDER BY run_id, key").raw().all()).toEqual([
      ["r1", "alpha", "0"],
      ["r2", "alpha", "1"],
      ["r2", "lr", "1"],
    ]);
    expect(db.prepare("SELECT * FROM latest_metrics ORDER BY run_id").raw().all()).toEqual([
      ["r1", "rmse", 1, 0, 1],
      ["r3", "loss", 1, 0, 1],
    ]);
    db.close();
  });

  it("rolls a failing migration back entirely", () => {
    const db = new Database(sqliteFile());
    expect(() => migrateSqlite(db, [...MIGRATIONS, BROKEN])).toThrow(/no_such_table/);
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all();
    expect(tables).toEqual([]);
    db.close();
  });

  it("refuses to open a database written by a newer version", async () => {
    const file = sqliteFile();
    await (await SqliteStore.open(file)).close();
    const db = new Database(file);
    db.prepare("INSERT INTO schema_migrations (id, applied_at) VALUES ('9999_future', 0)").run();
    db.close();
    await expectRegistryError(SqliteStore.open(file), "INVALID_STATE", "9999_future");
  });
});

const HAS_POSTGRES = await postgresReachable();
const schemas = new TestSchemas();
afterAll(() => schemas.drop());

describe.skipIf(!HAS_POSTGRES)(
  HAS_POSTGRES ? "PostgreSQL migrations" : `PostgreSQL migrations — ${NO_POSTGRES}`,
  () => {
    async function withClient<T>(schema: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
      const client = new pg.Client({
        connectionString: PG_URL,
        options: `-c search_path=${schema}`,
      });
      await client.connect();
      try {
        return await fn(client);
      } finally {
        await client.end();
      }
    }

    async function inspect(schema: string) {
      return withClient(schema, async (client) => ({
        tables: (
          await client.query<{ tablename: string }>(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename",
            [schema],
          )
        ).rows.map((row) => row.tablename),
        migrations: (
          await client.query<{ id: string; applied_at: string }>(
            "SELECT id, applied_at FROM schema_migrations ORDER BY id",
          )
        ).rows,
      }));
    }

    it("creates the schema, gives it the whole schema and records each migration", async () => {
      const schema = schemas.next();
      await (await PostgresStore.open(PG_URL, { schema })).close();
      const state = await inspect(schema);
      expect(state.tables).toEqual(TABLES);
      expect(state.migrations.map((m) => m.id)).toEqual(IDS);
    });

    it("does not reapply anything when opened again", async () => {
      const schema = schemas.next();
      await (await PostgresStore.open(PG_URL, { schema })).close();
      const before = (await inspect(schema)).migrations;
      await (await PostgresStore.open(PG_URL, { schema })).close();
      expect((await inspect(schema)).migrations).toEqual(before);
      expect(await withClient(schema, (client) => migratePostgres(client, schema))).toEqual([]);
    });

    it("applies only the missing migrations to an older schema", async () => {
      const schema = schemas.next();
      await withClient(schema, (client) => migratePostgres(client, schema, MIGRATIONS.slice(0, 1)));
      const first = (await inspect(schema)).migrations;
      expect(first.map((m) => m.id)).toEqual(IDS.slice(0, 1));
      await (await PostgresStore.open(PG_URL, { schema })).close();
      const after = (await inspect(schema)).migrations;
      expect(after.map((m) => m.id)).toEqual(IDS);
      expect(after[0]).toEqual(first[0]);
    });

    it("rolls a failing migration back entirely, schema included", async () => {
      const schema = schemas.next();
      await expect(
        withClient(schema, (client) => migratePostgres(client, schema, [...MIGRATIONS, BROKEN])),
      ).rejects.toThrow(/no_such_table/);
      const found = await withClient(schema, (client) =>
        client.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [schema]),
      );
      expect(found.rowCount).toBe(0);
    });

    it("lets several openers of a fresh schema race safely", async () => {
      const schema = schemas.next();
      const stores = await Promise.all(
        Array.from({ length: 4 }, () => PostgresStore.open(PG_URL, { schema, poolSize: 1 })),
      );
      await Promise.all(stores.map((store) => store.close()));
      expect((await inspect(schema)).migrations.map((m) => m.id)).toEqual(IDS);
    });

    it("refuses to open a schema written by a newer version", async () => {
      const schema = schemas.next();
      await (await PostgresStore.open(PG_URL, { schema })).close();
      await withClient(schema, (client) =>
        client.query("INSERT INTO schema_migrations (id, applied_at) VALUES ('9999_future', 0)"),
      );
      await expectRegistryError(
        PostgresStore.open(PG_URL, { schema }),
        "INVALID_STATE",
        "9999_future",
      );
    });
  },
);
