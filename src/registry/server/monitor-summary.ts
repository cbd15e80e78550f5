import type {
  MonitorResultRow,
  MonitorResultStore,
  MonitorSummary,
  MonitorVersionSummary,
  MonitorWindowSummary,
} from "../store/types.js";
import { MAX_MONITOR_RESULT_LIMIT } from "../store/monitor-result-rules.js";

/** Windows per version a summary holds unless asked otherwise. */
export const DEFAULT_SUMMARY_WINDOWS = 100;

const windowKey = (row: { windowStart: number; windowEnd: number }) =>
  `${row.windowStart}/${row.windowEnd}`;

/**
 * A model's results for the web UI: per version, the model-level metrics of its last `windows`
 * windows (oldest first, for the charts) and every row of its latest window. Two kinds of
 * reads: the model-level rows of each version's newest windows (a few per window, the cut made
 * by the store), then the latest window of each version in full, so a model with many columns
 * and a long history stays cheap to show.
 */
export async function monitorSummary(
  store: MonitorResultStore,
  model: string,
  windows = DEFAULT_SUMMARY_WINDOWS,
): Promise<MonitorSummary> {
  const modelLevel = await store.searchMonitorResults({
    model,
    column: "",
    // One window more than shown tells whether the history was cut.
    windowsPerVersion: windows + 1,
    limit: MAX_MONITOR_RESULT_LIMIT,
  });
  // Rows come newest window first: the first window met per version is its latest.
  const byVersion = new Map<string, Map<string, MonitorWindowSummary>>();
  for (const row of modelLevel) {
    let versionWindows = byVersion.get(row.version);
    if (versionWindows === undefined) {
      versionWindows = new Map();
      byVersion.set(row.version, versionWindows);
    }
    const key = windowKey(row);
    let window = versionWindows.get(key);
    if (window === undefined) {
      window = { windowStart: row.windowStart, windowEnd: row.windowEnd, runId: null, metrics: {} };
      versionWindows.set(key, window);
    }
    window.metrics[row.metric] = row.value;
    window.runId ??= row.runId;
  }

  const versions: MonitorVersionSummary[] = [];
  for (const [version, versionWindows] of byVersion) {
    const newestFirst = [...versionWindows.values()];
    const latest = newestFirst[0];
    // No window of this version ends after its latest: `from` just below that end reads the
    // windows ending with it, a short index range however long the history.
    const latestRows = await store.searchMonitorResults({
      model,
      version,
      from: latest.windowEnd - 1,
      to: latest.windowEnd,
      limit: MAX_MONITOR_RESULT_LIMIT,
    });
    versions.push({
      version,
      latest: { ...latest, columns: columnsOf(latestRows, windowKey(latest)) },
      windows: newestFirst.slice(0, windows).reverse(),
      truncated: newestFirst.length > windows,
    });
  }
  versions.sort(
    (a, b) =>
      b.latest.windowEnd - a.latest.windowEnd ||
      b.version.localeCompare(a.version, "en", { numeric: true }),
  );
  return { model, versions };
}

/** The per-column rows of one window, by column name. */
function columnsOf(rows: readonly MonitorResultRow[], key: string) {
  const columns = new Map<string, Record<string, number | null>>();
  for (const row of rows) {
    // Another window may end with the latest one (a longer pass): only its own rows count.
    if (row.column === "" || windowKey(row) !== key) continue;
    let metrics = columns.get(row.column);
    if (metrics === undefined) {
      metrics = {};
      columns.set(row.column, metrics);
    }
    metrics[row.metric] = row.value;
  }
  return [...columns]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([column, metrics]) => ({ column, metrics }));
}
