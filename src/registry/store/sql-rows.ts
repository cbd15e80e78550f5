import { chunks, placeholders, type SqlExecutor, type SqlInt } from "./sql-database.js";
import type {
  Experiment,
  MetricPoint,
  ModelVersion,
  RegisteredModel,
  Run,
  RunStatus,
} from "./types.js";

/** Rows as both drivers return them, and their conversion to the contract's entities. */

export interface ExperimentRow {
  id: string;
  name: string;
  artifact_location: string;
  created_at: SqlInt;
}

export interface RunRow {
  id: string;
  experiment_id: string;
  name: string;
  status: RunStatus;
  start_time: SqlInt;
  end_time: SqlInt | null;
  artifact_uri: string;
}

export interface MetricRow {
  key: string;
  value: number;
  step: SqlInt;
  timestamp: SqlInt;
}

export interface ModelRow {
  name: string;
  description: string;
  created_at: SqlInt;
  updated_at: SqlInt;
  latest_version: SqlInt | null;
}

export interface VersionRow {
  name: string;
  version: SqlInt;
  run_id: string | null;
  source: string;
  signature: string | null;
  description: string;
  created_at: SqlInt;
}

export const EXPERIMENT_COLUMNS = "id, name, artifact_location, created_at";
export const RUN_COLUMNS = "id, experiment_id, name, status, start_time, end_time, artifact_uri";
export const VERSION_COLUMNS = "name, version, run_id, source, signature, description, created_at";
export const MODEL_SELECT =
  "SELECT m.name, m.description, m.created_at, m.updated_at, " +
  "(SELECT MAX(v.version) FROM model_versions v WHERE v.name = m.name) AS latest_version " +
  "FROM registered_models m";

export function toMetricPoint(row: MetricRow): MetricPoint {
  return {
    key: row.key,
    value: Number(row.value),
    step: Number(row.step),
    timestamp: Number(row.timestamp),
  };
}

type KeyValueTable = "experiment_tags" | "run_tags" | "params";

/** key → value maps of several owners at once (tags of experiments, params of runs…). */
async function loadKeyValues(
  q: SqlExecutor,
  table: KeyValueTable,
  ownerColumn: "experiment_id" | "run_id",
  ownerIds: readonly string[],
): Promise<Map<string, Record<string, string>>> {
  const out = new Map<string, Record<string, string>>(ownerIds.map((id) => [id, {}]));
  for (const part of chunks(ownerIds)) {
    const rows = await q.query<{ owner: string; key: string; value: string }>(
      `SELECT ${ownerColumn} AS owner, key, value FROM ${table} ` +
        `WHERE ${ownerColumn} IN (${placeholders(part.length)}) ORDER BY key`,
      part,
    );
    for (const row of rows) {
      const map = out.get(row.owner);
      if (map !== undefined) map[row.key] = row.value;
    }
  }
  return out;
}

export async function hydrateExperiments(
  q: SqlExecutor,
  rows: readonly ExperimentRow[],
): Promise<Experiment[]> {
  const tags = await loadKeyValues(
    q,
    "experiment_tags",
    "experiment_id",
    rows.map((r) => r.id),
  );
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    artifactLocation: row.artifact_location,
    createdAt: Number(row.created_at),
    tags: tags.get(row.id) ?? {},
  }));
}

export async function hydrateRuns(q: SqlExecutor, rows: readonly RunRow[]): Promise<Run[]> {
  const ids = rows.map((r) => r.id);
  const params = await loadKeyValues(q, "params", "run_id", ids);
  const tags = await loadKeyValues(q, "run_tags", "run_id", ids);
  const latest = new Map<string, Record<string, number>>(ids.map((id) => [id, {}]));
  for (const part of chunks(ids)) {
    const metricRows = await q.query<{ run_id: string; key: string; value: number }>(
      `SELECT run_id, key, value FROM latest_metrics WHERE run_id IN (${placeholders(part.length)}) ` +
        "ORDER BY key",
      part,
    );
    for (const row of metricRows) {
      const map = latest.get(row.run_id);
      if (map !== undefined) map[row.key] = Number(row.value);
    }
  }
  return rows.map((row) => ({
    id: row.id,
    experimentId: row.experiment_id,
    name: row.name,
    status: row.status,
    startTime: Number(row.start_time),
    endTime: row.end_time === null ? null : Number(row.end_time),
    artifactUri: row.artifact_uri,
    params: params.get(row.id) ?? {},
    tags: tags.get(row.id) ?? {},
    latestMetrics: latest.get(row.id) ?? {},
  }));
}

async function loadAliases(
  q: SqlExecutor,
  names: readonly string[],
): Promise<{ alias: string; name: string; version: number }[]> {
  const out: { alias: string; name: string; version: number }[] = [];
  for (const part of chunks(names)) {
    const rows = await q.query<{ name: string; alias: string; version: SqlInt }>(
      `SELECT name, alias, version FROM model_aliases WHERE name IN (${placeholders(part.length)}) ` +
        "ORDER BY alias",
      part,
    );
    for (const row of rows) out.push({ ...row, version: Number(row.version) });
  }
  return out;
}

export async function hydrateModels(
  q: SqlExecutor,
  rows: readonly ModelRow[],
): Promise<RegisteredModel[]> {
  const aliases = new Map<string, Record<string, number>>(rows.map((r) => [r.name, {}]));
  for (const alias of await loadAliases(
    q,
    rows.map((r) => r.name),
  )) {
    const map = aliases.get(alias.name);
    if (map !== undefined) map[alias.alias] = alias.version;
  }
  return rows.map((row) => ({
    name: row.name,
    description: row.description,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    latestVersion: row.latest_version === null ? null : Number(row.latest_version),
    aliases: aliases.get(row.name) ?? {},
  }));
}

/** version → tags of one registered model's versions (all of them when `versions` is long). */
async function loadVersionTags(
  q: SqlExecutor,
  name: string,
  versions: readonly number[],
): Promise<Map<number, Record<string, string>>> {
  const out = new Map<number, Record<string, string>>(versions.map((v) => [v, {}]));
  if (versions.length === 0) return out;
  // One version (the common lookup) or the model's every version (a listing): no IN list.
  const rows = await q.query<{ version: SqlInt; key: string; value: string }>(
    versions.length === 1
      ? "SELECT version, key, value FROM model_version_tags WHERE name = ? AND version = ? " +
          "ORDER BY key"
      : "SELECT version, key, value FROM model_version_tags WHERE name = ? ORDER BY key",
    versions.length === 1 ? [name, versions[0]] : [name],
  );
  for (const row of rows) {
    const map = out.get(Number(row.version));
    if (map !== undefined) map[row.key] = row.value;
  }
  return out;
}

/** Versions of one registered model, with the aliases pointing at each and their tags. */
export async function hydrateVersions(
  q: SqlExecutor,
  name: string,
  rows: readonly VersionRow[],
): Promise<ModelVersion[]> {
  const byVersion = new Map<number, string[]>();
  for (const alias of await loadAliases(q, [name])) {
    byVersion.set(alias.version, [...(byVersion.get(alias.version) ?? []), alias.alias]);
  }
  const tags = await loadVersionTags(
    q,
    name,
    rows.map((row) => Number(row.version)),
  );
  return rows.map((row) => ({
    name: row.name,
    version: Number(row.version),
    runId: row.run_id,
    source: row.source,
    signature: row.signature,
    description: row.description,
    createdAt: Number(row.created_at),
    aliases: byVersion.get(Number(row.version)) ?? [],
    tags: tags.get(Number(row.version)) ?? {},
  }));
}
