/**
 * 10,000 runs of one experiment for the run-search benchmarks (bench:search-runs, bench:ui-runs),
 * bulk-inserted with SQL: the store's one-run-at-a-time calls would take minutes. Each run has 3
 * params and 3 metrics; every tenth one FAILED; run 0 has no metrics (it must sort last).
 */
import Database from "better-sqlite3";
import { newId } from "../registry/store/ids.js";
import { SqliteStore } from "../registry/store/sqlite-store.js";

export const RUNS = 10_000;

export type Row = (string | number | null)[];

/** The rows of `count` runs: runs, params, metrics and latest_metrics. */
export function runRows(
  experimentId: string,
  count = RUNS,
): Record<string, { columns: string[]; rows: Row[] }> {
  const runs: Row[] = [];
  const params: Row[] = [];
  const metrics: Row[] = [];
  for (let i = 0; i < count; i++) {
    const id = newId();
    const start = 1_700_000_000_000 + i * 1000;
    runs.push([
      id,
      experimentId,
      `run-${i}`,
      i % 10 === 0 ? "FAILED" : "FINISHED",
      start,
      start + 500,
      `/tmp/a/${id}`,
    ]);
    params.push(
      [id, "alpha", String(i % 7)],
      [id, "l1_ratio", String((i % 5) / 10)],
      [id, "depth", String(i % 12)],
    );
    if (i > 0) {
      metrics.push(
        [id, "valid_rmse", 5 + Math.sin(i), 9, start],
        [id, "train_rmse", 4 + Math.cos(i), 9, start],
        [id, "r2", (i % 100) / 100, 9, start],
      );
    }
  }
  const metricColumns = ["run_id", "key", "value", "step", "timestamp"];
  return {
    runs: {
      columns: ["id", "experiment_id", "name", "status", "start_time", "end_time", "artifact_uri"],
      rows: runs,
    },
    params: { columns: ["run_id", "key", "value"], rows: params },
    metrics: { columns: metricColumns, rows: metrics },
    latest_metrics: { columns: metricColumns, rows: metrics },
  };
}

/** Multi-row INSERTs of `data`, with the engine's placeholders (`?` or `$n`). */
export async function bulkInsert(
  run: (sql: string, values: Row) => Promise<void> | void,
  data: ReturnType<typeof runRows>,
  placeholder: (n: number) => string,
): Promise<void> {
  for (const [table, { columns, rows: all }] of Object.entries(data)) {
    const per = Math.floor(5000 / columns.length);
    for (let i = 0; i < all.length; i += per) {
      const part = all.slice(i, i + per);
      let n = 0;
      const values = part
        .map(() => `(${columns.map(() => placeholder(++n)).join(", ")})`)
        .join(", ");
      await run(`INSERT INTO ${table} (${columns.join(", ")}) VALUES ${values}`, part.flat());
    }
  }
}

/** A SQLite registry file with one experiment named `name` holding RUNS runs; its id. */
export async function seedSqlite(
  file: string,
  artifactRoot: string,
  name = "bench",
): Promise<string> {
  const store = await SqliteStore.open(file, { artifactRoot });
  const experiment = await store.createExperiment(name);
  await store.close();
  const db = new Database(file);
  try {
    db.exec("BEGIN");
    await bulkInsert(
      (sql, values) => void db.prepare(sql).run(...values),
      runRows(experiment.id),
      () => "?",
    );
    // The keys the store keeps as it writes (migration 0006), filled as the migration does.
    for (const [kind, table] of [
      ["param", "params"],
      ["metric", "latest_metrics"],
      ["tag", "run_tags"],
    ]) {
      db.exec(
        "INSERT INTO experiment_keys (experiment_id, kind, key) SELECT DISTINCT r.experiment_id, " +
          `'${kind}', k.key FROM ${table} k JOIN runs r ON r.id = k.run_id`,
      );
    }
    db.exec("COMMIT");
  } finally {
    db.close();
  }
  return experiment.id;
}
