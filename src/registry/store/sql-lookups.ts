import { RegistryError } from "../errors.js";
import { insertRows, type SqlDatabase, type SqlExecutor } from "./sql-database.js";
import {
  EXPERIMENT_COLUMNS,
  MODEL_SELECT,
  RUN_COLUMNS,
  VERSION_COLUMNS,
  type ExperimentRow,
  type ModelRow,
  type RunRow,
  type VersionRow,
} from "./sql-rows.js";

/** Single-row lookups that report what is missing (NOT_FOUND), and small shared writes. */

export function notFound(message: string): RegistryError {
  return new RegistryError("NOT_FOUND", message);
}

export async function experimentRow(q: SqlExecutor, id: string): Promise<ExperimentRow> {
  const [row] = await q.query<ExperimentRow>(
    `SELECT ${EXPERIMENT_COLUMNS} FROM experiments WHERE id = ?`,
    [id],
  );
  if (row === undefined) throw notFound(`experiment "${id}" not found`);
  return row;
}

export async function runRow(q: SqlExecutor, id: string, lock = ""): Promise<RunRow> {
  const [row] = await q.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = ?${lock}`, [id]);
  if (row === undefined) throw notFound(`run "${id}" not found`);
  return row;
}

/**
 * The run's row, locked until commit, so that changes to one run (params, latest metrics,
 * ending it) from several processes apply one after the other.
 */
export function lockedRun(tx: SqlExecutor, lockRow: string, id: string): Promise<RunRow> {
  return runRow(tx, id, lockRow);
}

export async function modelRow(q: SqlExecutor, name: string): Promise<ModelRow> {
  const [row] = await q.query<ModelRow>(`${MODEL_SELECT} WHERE m.name = ?`, [name]);
  if (row === undefined) throw notFound(`registered model "${name}" not found`);
  return row;
}

export async function versionRow(
  q: SqlExecutor,
  name: string,
  version: number,
): Promise<VersionRow> {
  const [row] = await q.query<VersionRow>(
    `SELECT ${VERSION_COLUMNS} FROM model_versions WHERE name = ? AND version = ?`,
    [name, version],
  );
  if (row !== undefined) return row;
  await modelRow(q, name);
  throw notFound(`registered model "${name}" has no version ${version}`);
}

export async function touchModel(tx: SqlExecutor, name: string): Promise<void> {
  await tx.run("UPDATE registered_models SET updated_at = ? WHERE name = ?", [Date.now(), name]);
}

export async function setKeyValues(
  tx: SqlExecutor,
  table: "experiment_tags" | "run_tags",
  ownerColumn: "experiment_id" | "run_id",
  ownerId: string,
  values: Record<string, string>,
): Promise<void> {
  await insertRows(
    tx,
    table,
    [ownerColumn, "key", "value"],
    Object.entries(values).map(([key, value]) => [ownerId, key, value]),
    ` ON CONFLICT (${ownerColumn}, key) DO UPDATE SET value = excluded.value`,
  );
}

/** Runs an INSERT, turning a unique-key violation into ALREADY_EXISTS. */
export async function insertUnique<T>(
  db: SqlDatabase,
  message: string,
  insert: () => Promise<T>,
): Promise<T> {
  try {
    return await insert();
  } catch (error) {
    if (db.isUniqueViolation(error)) throw new RegistryError("ALREADY_EXISTS", message);
    throw error;
  }
}
