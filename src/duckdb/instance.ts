import { tmpdir } from "node:os";
import path from "node:path";
import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api";

/** DuckDB resources for one source or sink. */
export interface DuckDBSettings {
  /**
   * DuckDB's memory limit (e.g. "1GB"). The ORDER BY of a read and the merge of a sink sort
   * the whole input; above this limit DuckDB spills to `tempDirectory` instead of growing.
   */
  memoryLimit?: string;
  /** Where DuckDB spills; default: the OS temp directory (not `.tmp` in the working folder). */
  tempDirectory?: string;
  threads?: number;
}

export const DEFAULT_MEMORY_LIMIT = "1GB";

/** An open in-memory DuckDB and its first connection. */
export interface DuckDBEngine {
  instance: DuckDBInstance;
  connection: DuckDBConnection;
}

/** A fresh in-memory DuckDB with the memory cap and spill folder applied. */
export async function openDuckDB(settings: DuckDBSettings): Promise<DuckDBEngine> {
  const config: Record<string, string> = {
    memory_limit: settings.memoryLimit ?? DEFAULT_MEMORY_LIMIT,
    temp_directory: settings.tempDirectory ?? path.join(tmpdir(), "mldeploy-duckdb"),
  };
  if (settings.threads !== undefined) config.threads = String(settings.threads);
  const instance = await DuckDBInstance.create(":memory:", config);
  return { instance, connection: await instance.connect() };
}

/** Releases what openDuckDB opened (a no-op for an engine that never opened). */
export async function closeDuckDB(engine: Promise<DuckDBEngine> | undefined): Promise<void> {
  if (!engine) return;
  const { instance, connection } = await engine;
  connection.closeSync();
  instance.closeSync();
}

/** Runs `work` on a fresh in-memory DuckDB and always releases it, even when `work` throws. */
export async function withDuckDB<T>(
  work: (connection: DuckDBConnection) => Promise<T>,
): Promise<T> {
  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  try {
    return await work(connection);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
