import { validateMonitorResultQuery, validateMonitorResultRows } from "./monitor-result-rules.js";
import {
  insertRows,
  placeholders,
  type SqlDatabase,
  type SqlInt,
  type SqlValue,
} from "./sql-database.js";
import type { MonitorResultQuery, MonitorResultRow, MonitorResultStore } from "./types.js";

interface ResultRow {
  model: string;
  version: string;
  window_start: SqlInt;
  window_end: SqlInt;
  metric: string;
  column_name: string;
  value: number | null;
  run_id: string | null;
}

const KEY = ["model", "version", "window_start", "window_end", "metric", "column_name"];
const COLUMNS = [...KEY, "value", "run_id", "updated_at"];

/** Monitoring results over SQL, shared by SQLite and PostgreSQL (migration 0007). */
export class SqlMonitorResultStore implements MonitorResultStore {
  constructor(private readonly db: SqlDatabase) {}

  async putMonitorResults(rows: MonitorResultRow[]): Promise<void> {
    const valid = validateMonitorResultRows(rows);
    if (valid.length === 0) return;
    const now = Date.now();
    const values = valid.map((r) => [
      r.model,
      r.version,
      r.windowStart,
      r.windowEnd,
      r.metric,
      r.column,
      r.value,
      r.runId,
      now,
    ]);
    // All rows of a pass land together or not at all: a half-written window would chart wrong.
    await this.db.write((tx) =>
      insertRows(
        tx,
        "monitor_results",
        COLUMNS,
        values,
        ` ON CONFLICT (${KEY.join(", ")}) DO UPDATE SET ` +
          "value = excluded.value, run_id = excluded.run_id, updated_at = excluded.updated_at",
      ),
    );
  }

  async searchMonitorResults(query: MonitorResultQuery): Promise<MonitorResultRow[]> {
    const q = validateMonitorResultQuery(query);
    const where = ["model = ?"];
    const params: SqlValue[] = [q.model];
    if (q.version !== undefined) {
      where.push("version = ?");
      params.push(q.version);
    }
    if (q.column !== undefined) {
      where.push("column_name = ?");
      params.push(q.column);
    }
    if (q.metrics !== undefined) {
      if (q.metrics.length === 0) return [];
      where.push(`metric IN (${placeholders(q.metrics.length)})`);
      params.push(...q.metrics);
    }
    if (q.from !== undefined) {
      where.push("window_end > ?");
      params.push(q.from);
    }
    if (q.to !== undefined) {
      where.push("window_start < ?");
      params.push(q.to);
    }
    const filter = where.join(" AND ");
    let sql = `SELECT ${KEY.join(", ")}, value, run_id FROM monitor_results WHERE ${filter} `;
    if (q.windowsPerVersion !== undefined) {
      // Each version's newest windows among the matching rows, ranked in SQL: a long history
      // is not carried into this process to be cut there.
      sql =
        `SELECT * FROM (SELECT m.* FROM (${sql}) m JOIN (` +
        "SELECT version, window_start, window_end FROM (" +
        "SELECT version, window_start, window_end, ROW_NUMBER() OVER (" +
        "PARTITION BY version ORDER BY window_end DESC, window_start DESC) AS newest " +
        `FROM (SELECT DISTINCT version, window_start, window_end FROM monitor_results WHERE ${filter}) w` +
        ") ranked WHERE newest <= ?" +
        ") kept ON kept.version = m.version AND kept.window_start = m.window_start " +
        "AND kept.window_end = m.window_end) newest_windows ";
      params.push(...params, q.windowsPerVersion);
    }
    params.push(q.limit);
    const rows = await this.db.read((r) =>
      r.query<ResultRow>(
        `${sql}ORDER BY window_end DESC, window_start DESC, version, metric, column_name LIMIT ?`,
        params,
      ),
    );
    return rows.map((row) => ({
      model: row.model,
      version: row.version,
      windowStart: Number(row.window_start),
      windowEnd: Number(row.window_end),
      metric: row.metric,
      column: row.column_name,
      value: row.value === null ? null : Number(row.value),
      runId: row.run_id,
    }));
  }
}
