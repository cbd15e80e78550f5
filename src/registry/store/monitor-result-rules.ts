import { RegistryError } from "../errors.js";
import type { MonitorResultQuery, MonitorResultRow } from "./types.js";

/**
 * What monitoring result rows and queries must hold, checked by every store before it touches
 * storage (as names.ts and deployment-rules.ts for the other entities), so that SQLite,
 * PostgreSQL and registry-server refuse the same input with the same message.
 */

/** Rows one put may carry: a pass over 100 columns, 10 versions and 8 metrics fits easily. */
export const MAX_MONITOR_ROWS_PER_PUT = 20_000;
/** Rows a search answers when the query sets no limit. */
export const DEFAULT_MONITOR_RESULT_LIMIT = 10_000;
/** The most rows one search may ask for. */
export const MAX_MONITOR_RESULT_LIMIT = 100_000;
/** Model, version, metric and column names. */
export const MAX_MONITOR_NAME = 256;

const HEX32 = /^[0-9a-f]{32}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function invalid(field: string, why: string): RegistryError {
  return new RegistryError("INVALID_VALUE", `monitor result ${field} ${why}`);
}

function text(field: string, value: unknown, allowEmpty = false): string {
  if (typeof value !== "string") throw invalid(field, `must be a string, got ${typeof value}`);
  if (value === "" && !allowEmpty) throw invalid(field, "must not be empty");
  if (value.length > MAX_MONITOR_NAME) {
    throw invalid(field, `is longer than ${MAX_MONITOR_NAME} characters`);
  }
  if (CONTROL.test(value)) throw invalid(field, "contains a control character");
  return value;
}

function epochMs(field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(field, `must be an integer ≥ 0 (ms since the epoch), got ${String(value)}`);
  }
  return value;
}

/** One row as the store writes it (a plain copy with only the known fields). */
export function validateMonitorResultRow(row: MonitorResultRow, index: number): MonitorResultRow {
  const at = (field: string) => `rows[${index}].${field}`;
  if (typeof row !== "object" || row === null) throw invalid(`rows[${index}]`, "must be an object");
  const windowStart = epochMs(at("windowStart"), row.windowStart);
  const windowEnd = epochMs(at("windowEnd"), row.windowEnd);
  if (windowEnd <= windowStart) {
    throw invalid(at("windowEnd"), `must be after windowStart (${windowStart}), got ${windowEnd}`);
  }
  const { value, runId } = row;
  if (value !== null && (typeof value !== "number" || !Number.isFinite(value))) {
    throw invalid(at("value"), `must be a finite number or null, got ${String(value)}`);
  }
  if (runId !== null && (typeof runId !== "string" || !HEX32.test(runId))) {
    throw invalid(at("runId"), `must be a run id (32 lowercase hex characters) or null`);
  }
  return {
    model: text(at("model"), row.model),
    version: text(at("version"), row.version),
    windowStart,
    windowEnd,
    metric: text(at("metric"), row.metric),
    column: text(at("column"), row.column, true),
    value,
    runId,
  };
}

/**
 * The rows of one put, checked, with a repeated key kept once (the last one wins, as two puts
 * in a row would leave it): one INSERT … ON CONFLICT may not touch the same row twice.
 */
export function validateMonitorResultRows(rows: readonly MonitorResultRow[]): MonitorResultRow[] {
  if (!Array.isArray(rows)) throw invalid("rows", "must be an array");
  if (rows.length > MAX_MONITOR_ROWS_PER_PUT) {
    throw invalid(
      "rows",
      `holds ${rows.length} rows; one put takes at most ${MAX_MONITOR_ROWS_PER_PUT}`,
    );
  }
  const byKey = new Map<string, MonitorResultRow>();
  rows.forEach((row, index) => {
    const valid = validateMonitorResultRow(row, index);
    byKey.set(monitorResultKey(valid), valid);
  });
  return [...byKey.values()];
}

/** The identity of a row: a later row with the same key replaces it. */
export function monitorResultKey(row: MonitorResultRow): string {
  return JSON.stringify([
    row.model,
    row.version,
    row.windowStart,
    row.windowEnd,
    row.metric,
    row.column,
  ]);
}

/** A whole number of windows or rows, 1 to MAX_MONITOR_RESULT_LIMIT. */
function count(field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > MAX_MONITOR_RESULT_LIMIT)
    throw invalid(field, `must be an integer from 1 to ${MAX_MONITOR_RESULT_LIMIT}`);
  return value;
}

/** The query with its defaults filled in. */
export function validateMonitorResultQuery(
  query: MonitorResultQuery,
): MonitorResultQuery & { limit: number } {
  if (typeof query !== "object" || query === null) throw invalid("query", "must be an object");
  const out: MonitorResultQuery & { limit: number } = {
    model: text("model", query.model),
    limit: DEFAULT_MONITOR_RESULT_LIMIT,
  };
  if (query.version !== undefined) out.version = text("version", query.version);
  if (query.column !== undefined) out.column = text("column", query.column, true);
  if (query.metrics !== undefined) {
    if (!Array.isArray(query.metrics)) throw invalid("metrics", "must be an array of names");
    out.metrics = query.metrics.map((metric, i) => text(`metrics[${i}]`, metric));
  }
  if (query.from !== undefined) out.from = epochMs("from", query.from);
  if (query.to !== undefined) out.to = epochMs("to", query.to);
  if (query.windowsPerVersion !== undefined)
    out.windowsPerVersion = count("windowsPerVersion", query.windowsPerVersion);
  if (query.limit !== undefined) out.limit = count("limit", query.limit);
  return out;
}
