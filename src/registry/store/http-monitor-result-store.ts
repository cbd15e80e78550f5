import type { RegistryHttpClient } from "./http-client.js";
import { validateMonitorResultQuery, validateMonitorResultRows } from "./monitor-result-rules.js";
import type { MonitorResultQuery, MonitorResultRow, MonitorResultStore } from "./types.js";

/** Monitoring results kept by a registry server, over its JSON API. */
export class HttpMonitorResultStore implements MonitorResultStore {
  constructor(private readonly client: RegistryHttpClient) {}

  // Checked here too, so that a bad row is refused before any request with the very message a
  // local store gives (the server checks again: other clients exist).

  async putMonitorResults(rows: MonitorResultRow[]): Promise<void> {
    const valid = validateMonitorResultRows(rows);
    if (valid.length === 0) return;
    await this.client.request("POST", "/monitor-results/put", { body: { rows: valid } });
  }

  async searchMonitorResults(query: MonitorResultQuery): Promise<MonitorResultRow[]> {
    const q = validateMonitorResultQuery(query);
    if (q.metrics !== undefined && q.metrics.length === 0) return [];
    return this.client.request("GET", "/monitor-results/search", {
      query: {
        model: q.model,
        version: q.version,
        metric: q.metrics,
        column: q.column,
        from: q.from,
        to: q.to,
        windowsPerVersion: q.windowsPerVersion,
        limit: q.limit,
      },
    });
  }
}
