import {
  requireId,
  validateAlias,
  validateDescription,
  validateModelName,
  validateSignature,
  validateKey,
  validateSource,
  validateTags,
  validateVersion,
} from "./names.js";
import { insertRows, type SqlDatabase, type SqlExecutor, type SqlInt } from "./sql-database.js";
import { insertUnique, modelRow, notFound, runRow, touchModel, versionRow } from "./sql-lookups.js";
import {
  hydrateModels,
  hydrateVersions,
  MODEL_SELECT,
  VERSION_COLUMNS,
  type ModelRow,
  type VersionRow,
} from "./sql-rows.js";
import type {
  CreateModelVersionInput,
  ModelRegistryStore,
  ModelVersion,
  RegisteredModel,
} from "./types.js";

/**
 * The model-registry store over SQL, shared by SQLite and PostgreSQL: registered models, their
 * versions and aliases. It lives in the tracking store's database (as MLflow's does when both
 * URIs name one database), so that a version's run is checked in the same transaction.
 */
export class SqlModelRegistryStore implements ModelRegistryStore {
  constructor(
    private readonly db: SqlDatabase,
    readonly description: string,
  ) {}

  async createRegisteredModel(name: string, description = ""): Promise<RegisteredModel> {
    validateModelName(name);
    validateDescription(description);
    const now = Date.now();
    await this.db.write((tx) =>
      insertUnique(this.db, `registered model "${name}" already exists`, () =>
        tx.run(
          "INSERT INTO registered_models (name, description, created_at, updated_at) " +
            "VALUES (?, ?, ?, ?)",
          [name, description, now, now],
        ),
      ),
    );
    return { name, description, createdAt: now, updatedAt: now, latestVersion: null, aliases: {} };
  }

  async getRegisteredModel(name: string): Promise<RegisteredModel> {
    validateModelName(name);
    return this.db.read(async (q) => (await hydrateModels(q, [await modelRow(q, name)]))[0]);
  }

  /** By name. */
  async listRegisteredModels(): Promise<RegisteredModel[]> {
    return this.db.read(async (q) =>
      hydrateModels(q, await q.query<ModelRow>(`${MODEL_SELECT} ORDER BY m.name`)),
    );
  }

  async createModelVersion(input: CreateModelVersionInput): Promise<ModelVersion> {
    const name = validateModelName(input.name);
    const source = validateSource(input.source);
    const runId = input.runId === undefined ? null : requireId("run", input.runId);
    const signature = input.signature === undefined ? null : validateSignature(input.signature);
    const description = validateDescription(input.description ?? "");
    const tags = validateTags(input.tags);
    const now = Date.now();
    return this.db.write(async (tx) => {
      if (runId !== null) await runRow(tx, runId);
      await tx.run(
        "INSERT INTO registered_models (name, description, created_at, updated_at) " +
          "VALUES (?, '', ?, ?) ON CONFLICT (name) DO NOTHING",
        [name, now, now],
      );
      // Incrementing the counter locks the model's row until commit: concurrent registrations
      // of the same model queue here and each gets the next number.
      const [allocated] = await tx.query<{ last_version: SqlInt }>(
        "UPDATE registered_models SET last_version = last_version + 1, updated_at = ? " +
          "WHERE name = ? RETURNING last_version",
        [now, name],
      );
      const version = Number(allocated.last_version);
      await tx.run(`INSERT INTO model_versions (${VERSION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`, [
        name,
        version,
        runId,
        source,
        signature,
        description,
        now,
      ]);
      await setVersionTags(tx, name, version, tags);
      return {
        name,
        version,
        runId,
        source,
        signature,
        description,
        createdAt: now,
        aliases: [],
        tags: Object.fromEntries(Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : 1))),
      };
    });
  }

  async getModelVersion(name: string, version: number): Promise<ModelVersion> {
    validateModelName(name);
    validateVersion(version);
    return this.db.read(async (q) => {
      const [found] = await hydrateVersions(q, name, [await versionRow(q, name, version)]);
      return found;
    });
  }

  async listModelVersions(name: string): Promise<ModelVersion[]> {
    validateModelName(name);
    return this.db.read(async (q) => {
      await modelRow(q, name);
      const rows = await q.query<VersionRow>(
        `SELECT ${VERSION_COLUMNS} FROM model_versions WHERE name = ? ORDER BY version`,
        [name],
      );
      return hydrateVersions(q, name, rows);
    });
  }

  async setAlias(name: string, alias: string, version: number): Promise<void> {
    validateModelName(name);
    validateAlias(alias);
    validateVersion(version);
    await this.db.write(async (tx) => {
      await versionRow(tx, name, version);
      await tx.run(
        "INSERT INTO model_aliases (name, alias, version) VALUES (?, ?, ?) " +
          "ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
        [name, alias, version],
      );
      await touchModel(tx, name);
    });
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    validateModelName(name);
    validateAlias(alias);
    await this.db.write(async (tx) => {
      await modelRow(tx, name);
      const deleted = await tx.run("DELETE FROM model_aliases WHERE name = ? AND alias = ?", [
        name,
        alias,
      ]);
      if (deleted === 0) throw notFound(`registered model "${name}" has no alias "${alias}"`);
      await touchModel(tx, name);
    });
  }

  async getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion> {
    validateModelName(name);
    validateAlias(alias);
    return this.db.read(async (q) => {
      const [target] = await q.query<{ version: SqlInt }>(
        "SELECT version FROM model_aliases WHERE name = ? AND alias = ?",
        [name, alias],
      );
      if (target === undefined) {
        await modelRow(q, name);
        throw notFound(`registered model "${name}" has no alias "${alias}"`);
      }
      const row = await versionRow(q, name, Number(target.version));
      return (await hydrateVersions(q, name, [row]))[0];
    });
  }

  async setModelVersionTags(
    name: string,
    version: number,
    tags: Record<string, string>,
  ): Promise<void> {
    validateModelName(name);
    validateVersion(version);
    const valid = validateTags(tags);
    await this.db.write(async (tx) => {
      await versionRow(tx, name, version);
      await setVersionTags(tx, name, version, valid);
      await touchModel(tx, name);
    });
  }

  async deleteModelVersionTag(name: string, version: number, key: string): Promise<void> {
    validateModelName(name);
    validateVersion(version);
    validateKey("tag", key);
    await this.db.write(async (tx) => {
      await versionRow(tx, name, version);
      const deleted = await tx.run(
        "DELETE FROM model_version_tags WHERE name = ? AND version = ? AND key = ?",
        [name, version, key],
      );
      if (deleted === 0) {
        throw notFound(`version ${version} of registered model "${name}" has no tag "${key}"`);
      }
      await touchModel(tx, name);
    });
  }

  /** Closes the database (which a tracking store beside it may share). */
  async close(): Promise<void> {
    await this.db.close();
  }
}

/** Inserts or overwrites tags of one version. */
async function setVersionTags(
  tx: SqlExecutor,
  name: string,
  version: number,
  tags: Record<string, string>,
): Promise<void> {
  await insertRows(
    tx,
    "model_version_tags",
    ["name", "version", "key", "value"],
    Object.entries(tags).map(([key, value]) => [name, version, key, value]),
    " ON CONFLICT (name, version, key) DO UPDATE SET value = excluded.value",
  );
}
