import { defineRoute, type ApiRoute } from "./route-spec.js";
import {
  monitorResultListSchema,
  monitorSummaryQuery,
  monitorSummarySchema,
  putMonitorResultsBody,
  searchMonitorResultsQuery,
} from "./monitor-schemas.js";
import { monitorSummary } from "./monitor-summary.js";

/**
 * The monitoring results `mldeploy monitor` writes (drift and error per window, model version,
 * metric and column) and the reads of the web UI's Monitoring section.
 */
export const MONITOR_ROUTES: readonly ApiRoute[] = [
  defineRoute({
    method: "POST",
    path: "/monitor-results/put",
    operationId: "putMonitorResults",
    summary:
      "Store monitoring results: each row is inserted, or replaces the row of the same model, " +
      "version, window, metric and column (a rerun over a window replaces its results); all or none",
    tag: "monitoring",
    body: putMonitorResultsBody,
    status: 204,
    errors: [],
    handle: (store, { body }) => store.putMonitorResults(body.rows),
  }),
  defineRoute({
    method: "GET",
    path: "/monitor-results/search",
    operationId: "searchMonitorResults",
    summary:
      "Monitoring results of a model, newest window first: by version, metrics, column and time " +
      "(windows ending after `from` and starting before `to`)",
    tag: "monitoring",
    query: searchMonitorResultsQuery,
    status: 200,
    response: monitorResultListSchema,
    errors: [],
    handle: (store, { query }) => {
      const { metric, ...rest } = query;
      return store.searchMonitorResults({ ...rest, metrics: metric });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/monitor-results/summary",
    operationId: "getMonitorSummary",
    summary:
      "What the web UI shows of a model's monitoring: per version, its latest window with every " +
      "column, and the model-level metrics of its windows oldest first (for charts)",
    tag: "monitoring",
    query: monitorSummaryQuery,
    status: 200,
    response: monitorSummarySchema,
    errors: [],
    handle: (store, { query }) => monitorSummary(store, query.model, query.windows),
  }),
];
