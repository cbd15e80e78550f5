import type { MetricPoint } from "../store/types.js";
import { lttb } from "../lttb.js";
import { DEPLOYMENT_ROUTES } from "./deployment-routes.js";
import { MONITOR_ROUTES } from "./monitor-routes.js";
import { defineRoute, type ApiRoute } from "./route-spec.js";
import {
  aliasParams,
  createExperimentBody,
  createModelBody,
  createRunBody,
  createVersionBody,
  endRunBody,
  experimentIdParams,
  experimentKeysSchema,
  experimentListSchema,
  experimentSummaryListSchema,
  experimentSchema,
  listExperimentsQuery,
  listRunsQuery,
  logMetricsBody,
  logParamsBody,
  metricHistorySchema,
  metricChartQuery,
  metricChartSchema,
  metricParams,
  modelParams,
  modelVersionListSchema,
  modelVersionSchema,
  registeredModelListSchema,
  registeredModelSchema,
  runIdParams,
  runListSchema,
  runSchema,
  searchRunsBody,
  searchRunsResultSchema,
  setAliasBody,
  setTagsBody,
  setVersionTagsBody,
  versionParams,
  versionTagParams,
} from "./schemas.js";

/**
 * Every RegistryStore method as an HTTP operation, relative to API_PREFIX. Handlers move
 * values between HTTP and the store, where the rules of the registry live; the server adds
 * only its own (ServerRules: where clients may point artifacts).
 */
export const API_ROUTES: readonly ApiRoute[] = [
  // ── experiments ──
  defineRoute({
    method: "POST",
    path: "/experiments",
    operationId: "createExperiment",
    summary: "Create an experiment",
    tag: "experiments",
    body: createExperimentBody,
    status: 201,
    response: experimentSchema,
    errors: [409],
    handle: (store, { body }, { artifactRoots }) => {
      if (body.artifactLocation !== undefined) {
        artifactRoots.check("artifactLocation", body.artifactLocation);
      }
      return store.createExperiment(body.name, {
        artifactLocation: body.artifactLocation,
        tags: body.tags,
      });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/experiments",
    operationId: "listExperiments",
    summary: "List experiments in creation order, or find one by name (?name=)",
    tag: "experiments",
    query: listExperimentsQuery,
    status: 200,
    response: experimentListSchema,
    errors: [],
    // By-name lookup is a filter rather than a /experiments/by-name/{name} path: experiment
    // names may be "." or "..", which no URL path can carry (clients normalize them away).
    handle: async (store, { query }) => {
      if (query.name === undefined) return store.listExperiments();
      const found = await store.findExperimentByName(query.name);
      return found === undefined ? [] : [found];
    },
  }),
  defineRoute({
    method: "GET",
    path: "/experiment-summaries",
    operationId: "listExperimentSummaries",
    summary: "List experiments in creation order with their run count and last activity",
    tag: "experiments",
    status: 200,
    response: experimentSummaryListSchema,
    errors: [],
    handle: (store) => store.listExperimentSummaries(),
  }),
  defineRoute({
    method: "GET",
    path: "/experiments/:id/keys",
    operationId: "getExperimentKeys",
    summary:
      "The distinct param, metric and tag keys of an experiment's runs (a runs table's columns)",
    tag: "experiments",
    params: experimentIdParams,
    status: 200,
    response: experimentKeysSchema,
    errors: [404],
    handle: (store, { params }) => store.getExperimentKeys(params.id),
  }),
  defineRoute({
    method: "GET",
    path: "/experiments/:id",
    operationId: "getExperiment",
    summary: "Get an experiment",
    tag: "experiments",
    params: experimentIdParams,
    status: 200,
    response: experimentSchema,
    errors: [404],
    handle: (store, { params }) => store.getExperiment(params.id),
  }),

  // ── runs ──
  defineRoute({
    method: "POST",
    path: "/runs",
    operationId: "createRun",
    summary: "Start a run in an experiment",
    tag: "runs",
    body: createRunBody,
    status: 201,
    response: runSchema,
    errors: [404],
    handle: (store, { body }) => store.createRun(body),
  }),
  defineRoute({
    method: "GET",
    path: "/runs",
    operationId: "listRuns",
    summary: "List runs, newest first",
    tag: "runs",
    query: listRunsQuery,
    status: 200,
    response: runListSchema,
    errors: [404],
    handle: (store, { query }) => store.listRuns(query),
  }),
  defineRoute({
    method: "POST",
    path: "/runs/search",
    operationId: "searchRuns",
    summary:
      "Search runs with MLflow's filter syntax, sorted by any column, one page at a time " +
      "(as MLflow's POST /api/2.0/mlflow/runs/search)",
    tag: "runs",
    body: searchRunsBody,
    status: 200,
    response: searchRunsResultSchema,
    errors: [404],
    handle: (store, { body }) => store.searchRuns(body),
  }),
  defineRoute({
    method: "GET",
    path: "/runs/:id",
    operationId: "getRun",
    summary: "Get a run with its params, tags and latest metrics",
    tag: "runs",
    params: runIdParams,
    status: 200,
    response: runSchema,
    errors: [404],
    handle: (store, { params }) => store.getRun(params.id),
  }),
  defineRoute({
    method: "POST",
    path: "/runs/:id/params",
    operationId: "logParams",
    summary: "Log params (immutable: a key logged again must keep its value)",
    tag: "runs",
    params: runIdParams,
    body: logParamsBody,
    status: 204,
    errors: [404, 409],
    handle: (store, { params, body }) => store.logParams(params.id, body.params),
  }),
  defineRoute({
    method: "POST",
    path: "/runs/:id/metrics",
    operationId: "logMetrics",
    summary: "Log a batch of metric points (all or none)",
    tag: "runs",
    params: runIdParams,
    body: logMetricsBody,
    status: 204,
    errors: [404, 409],
    handle: (store, { params, body }) => store.logMetrics(params.id, body.metrics),
  }),
  defineRoute({
    method: "GET",
    path: "/runs/:id/metrics/:key",
    operationId: "getMetricHistory",
    summary: "Every logged point of one metric",
    tag: "runs",
    params: metricParams,
    status: 200,
    response: metricHistorySchema,
    errors: [404],
    handle: (store, { params }) => store.getMetricHistory(params.id, params.key),
  }),
  defineRoute({
    method: "GET",
    path: "/runs/:id/metrics/:key/chart",
    operationId: "getMetricChart",
    summary:
      "A metric's history for a chart: every point up to maxPoints, else downsampled by " +
      "Largest-Triangle-Three-Buckets (peaks and dips kept); the full history is getMetricHistory",
    tag: "runs",
    params: metricParams,
    query: metricChartQuery,
    status: 200,
    response: metricChartSchema,
    errors: [404],
    handle: async (store, { params, query }) => {
      const history = await store.getMetricHistory(params.id, params.key);
      const ordered =
        query.x === "time"
          ? [...history].sort((a, b) => a.timestamp - b.timestamp || a.step - b.step)
          : history;
      const x = query.x === "time" ? (p: MetricPoint) => p.timestamp : (p: MetricPoint) => p.step;
      const points = lttb(ordered, query.maxPoints, x, (p) => p.value);
      return {
        key: params.key,
        total: history.length,
        downsampled: points.length < history.length,
        points,
      };
    },
  }),
  defineRoute({
    method: "POST",
    path: "/runs/:id/tags",
    operationId: "setRunTags",
    summary: "Set or overwrite run tags (also on ended runs)",
    tag: "runs",
    params: runIdParams,
    body: setTagsBody,
    status: 204,
    errors: [404],
    handle: (store, { params, body }) => store.setRunTags(params.id, body.tags),
  }),
  defineRoute({
    method: "POST",
    path: "/runs/:id/end",
    operationId: "endRun",
    summary: "End a running run with a terminal status",
    tag: "runs",
    params: runIdParams,
    body: endRunBody,
    status: 200,
    response: runSchema,
    errors: [404, 409],
    handle: (store, { params, body }) => store.endRun(params.id, body.status, body.endTime),
  }),

  // ── model registry ──
  defineRoute({
    method: "POST",
    path: "/models",
    operationId: "createRegisteredModel",
    summary: "Create a registered model",
    tag: "models",
    body: createModelBody,
    status: 201,
    response: registeredModelSchema,
    errors: [409],
    handle: (store, { body }) => store.createRegisteredModel(body.name, body.description),
  }),
  defineRoute({
    method: "GET",
    path: "/models",
    operationId: "listRegisteredModels",
    summary: "List registered models by name",
    tag: "models",
    status: 200,
    response: registeredModelListSchema,
    errors: [],
    handle: (store) => store.listRegisteredModels(),
  }),
  defineRoute({
    method: "GET",
    path: "/models/:name",
    operationId: "getRegisteredModel",
    summary: "Get a registered model with its aliases and latest version",
    tag: "models",
    params: modelParams,
    status: 200,
    response: registeredModelSchema,
    errors: [404],
    handle: (store, { params }) => store.getRegisteredModel(params.name),
  }),
  defineRoute({
    method: "POST",
    path: "/models/:name/versions",
    operationId: "createModelVersion",
    summary: "Register the next version (creates the registered model if needed)",
    tag: "models",
    params: modelParams,
    body: createVersionBody,
    status: 201,
    response: modelVersionSchema,
    errors: [404],
    handle: (store, { params, body }, { artifactRoots }) => {
      artifactRoots.check("source", body.source);
      return store.createModelVersion({ name: params.name, ...body });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/models/:name/versions",
    operationId: "listModelVersions",
    summary: "List a model's versions, ascending",
    tag: "models",
    params: modelParams,
    status: 200,
    response: modelVersionListSchema,
    errors: [404],
    handle: (store, { params }) => store.listModelVersions(params.name),
  }),
  defineRoute({
    method: "GET",
    path: "/models/:name/versions/:version",
    operationId: "getModelVersion",
    summary: "Get one model version",
    tag: "models",
    params: versionParams,
    status: 200,
    response: modelVersionSchema,
    errors: [404],
    handle: (store, { params }) => store.getModelVersion(params.name, params.version),
  }),
  defineRoute({
    method: "POST",
    path: "/models/:name/versions/:version/tags",
    operationId: "setModelVersionTags",
    summary: "Set or overwrite tags of a model version (other tags are kept)",
    tag: "models",
    params: versionParams,
    body: setVersionTagsBody,
    status: 204,
    errors: [404],
    handle: (store, { params, body }) =>
      store.setModelVersionTags(params.name, params.version, body.tags),
  }),
  defineRoute({
    method: "DELETE",
    path: "/models/:name/versions/:version/tags/:key",
    operationId: "deleteModelVersionTag",
    summary: "Delete one tag of a model version",
    tag: "models",
    params: versionTagParams,
    status: 204,
    errors: [404],
    handle: (store, { params }) =>
      store.deleteModelVersionTag(params.name, params.version, params.key),
  }),
  defineRoute({
    method: "PUT",
    path: "/models/:name/aliases/:alias",
    operationId: "setAlias",
    summary: "Point an alias at a version (creates or moves it)",
    tag: "models",
    params: aliasParams,
    body: setAliasBody,
    status: 204,
    errors: [404],
    handle: (store, { params, body }) => store.setAlias(params.name, params.alias, body.version),
  }),
  defineRoute({
    method: "DELETE",
    path: "/models/:name/aliases/:alias",
    operationId: "deleteAlias",
    summary: "Delete an alias",
    tag: "models",
    params: aliasParams,
    status: 204,
    errors: [404],
    handle: (store, { params }) => store.deleteAlias(params.name, params.alias),
  }),
  defineRoute({
    method: "GET",
    path: "/models/:name/aliases/:alias",
    operationId: "getModelVersionByAlias",
    summary: "Get the version an alias points at",
    tag: "models",
    params: aliasParams,
    status: 200,
    response: modelVersionSchema,
    errors: [404],
    handle: (store, { params }) => store.getModelVersionByAlias(params.name, params.alias),
  }),

  // ── deployments (and what the web UI's "try it" needs) ──
  ...DEPLOYMENT_ROUTES,

  // ── monitoring results (mldeploy monitor writes, the web UI reads) ──
  ...MONITOR_ROUTES,
];
