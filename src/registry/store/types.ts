/**
 * The store contracts, split where MLflow splits them (mlflow/store/tracking and
 * mlflow/store/model_registry): a TrackingStore holds experiments and runs (params, metrics,
 * tags, artifact locations), a ModelRegistryStore holds registered models, their versions and
 * aliases. A registry URL opens both at once, over one database or server: a RegistryStore.
 * SQLite, PostgreSQL and the HTTP client (registry-server) implement them the same way; the
 * shared test suite runs against each.
 *
 * Times are milliseconds since the epoch. Ids are 32 lowercase hex characters (as MLflow's
 * run ids). Every method is async so that remote stores fit the same shape.
 */

export type RunStatus = "RUNNING" | "FINISHED" | "FAILED" | "KILLED";
export const RUN_STATUSES: readonly RunStatus[] = ["RUNNING", "FINISHED", "FAILED", "KILLED"];

export interface Experiment {
  id: string;
  name: string;
  /** Where runs of this experiment put artifacts: `<artifactLocation>/<runId>/artifacts`. */
  artifactLocation: string;
  createdAt: number;
  tags: Record<string, string>;
}

export interface Run {
  id: string;
  experimentId: string;
  name: string;
  status: RunStatus;
  startTime: number;
  endTime: number | null;
  /** Root URI of this run's artifacts (a file path/URI or `s3://bucket/key`). */
  artifactUri: string;
  params: Record<string, string>;
  tags: Record<string, string>;
  /** The last logged value of each metric (highest step, then latest timestamp). */
  latestMetrics: Record<string, number>;
}

/** An experiment with what its list shows: how many runs, and when one last started or ended. */
export interface ExperimentSummary extends Experiment {
  runCount: number;
  /** The latest run start or end time, else the experiment's creation time. */
  lastActivity: number;
}

/** The distinct keys an experiment's runs have logged: the columns a runs table can show. */
export interface ExperimentKeys {
  /** Each sorted by code point. */
  params: string[];
  metrics: string[];
  tags: string[];
}

export interface MetricPoint {
  key: string;
  value: number;
  step: number;
  timestamp: number;
}

export interface MetricInput {
  key: string;
  value: number;
  /** Default 0. */
  step?: number;
  /** Default: now. */
  timestamp?: number;
}

export interface RegisteredModel {
  name: string;
  description: string;
  createdAt: number;
  updatedAt: number;
  /** Highest version number, or null before the first version. */
  latestVersion: number | null;
  /** alias → version */
  aliases: Record<string, number>;
}

export interface ModelVersion {
  name: string;
  version: number;
  /** Run that produced it, if any. */
  runId: string | null;
  /** Artifact URI of the model directory (a bundle: MLmodel + model.onnx …). */
  source: string;
  /** The bundle's MLflow signature as JSON text, for display and checks without a download. */
  signature: string | null;
  description: string;
  createdAt: number;
  /** Aliases that point at this version. */
  aliases: string[];
  /** Free key → value labels (as MLflow's model version tags): "validated": "true", … */
  tags: Record<string, string>;
}

export interface CreateRunInput {
  experimentId: string;
  /** Default: a generated readable name. */
  name?: string;
  tags?: Record<string, string>;
  startTime?: number;
}

export interface ListRunsInput {
  experimentId?: string;
  status?: RunStatus;
  /** Newest first; default 100. */
  limit?: number;
}

/**
 * A page of a run search (MLflow's SearchRuns): `filter` and `orderBy` in MLflow's syntax
 * (see run-filter.ts), pages of `maxResults` runs, `pageToken` from the previous page.
 */
export interface SearchRunsInput {
  /** Runs of these experiments; all experiments when absent or empty. */
  experimentIds?: string[];
  /** e.g. `metrics.valid_rmse < 5.5 and params.alpha = "0"`; empty matches every run. */
  filter?: string;
  /**
   * e.g. `["metrics.rmse ASC", "params.alpha DESC"]`; runs missing a key come last (as
   * MLflow), ties by start time (newest first), then creation order (newest first).
   */
  orderBy?: string[];
  /** Default 1000, at most 50 000 (MLflow's limits). */
  maxResults?: number;
  pageToken?: string;
  /**
   * true: the result carries `total` (one COUNT over the filter, so off by default; MLflow's
   * SearchRuns has no such field).
   */
  includeTotal?: boolean;
}

export interface SearchRunsResult {
  runs: Run[];
  /** Present when more runs match: pass it as `pageToken` for the next page. */
  nextPageToken?: string;
  /** How many runs match, over all pages; present when asked for with `includeTotal`. */
  total?: number;
}

export interface CreateModelVersionInput {
  name: string;
  source: string;
  runId?: string;
  signature?: string;
  description?: string;
  /** Model version tags (keys and values as run tags). */
  tags?: Record<string, string>;
}

/** What every store has: a name for logs, and resources to release. */
export interface StoreConnection {
  /** A URL-ish description for logs and `mldeploy info` (never contains a password). */
  readonly description: string;
  close(): Promise<void>;
}

/** Experiments and runs (MLflow's tracking store). */
export interface TrackingStore extends StoreConnection {
  createExperiment(
    name: string,
    options?: { artifactLocation?: string; tags?: Record<string, string> },
  ): Promise<Experiment>;
  getExperiment(id: string): Promise<Experiment>;
  /** undefined when there is none. */
  findExperimentByName(name: string): Promise<Experiment | undefined>;
  listExperiments(): Promise<Experiment[]>;
  /** Every experiment (creation order) with its run count and last activity, in one query. */
  listExperimentSummaries(): Promise<ExperimentSummary[]>;
  /** The param, metric and tag keys logged by the experiment's runs. */
  getExperimentKeys(id: string): Promise<ExperimentKeys>;

  createRun(input: CreateRunInput): Promise<Run>;
  getRun(id: string): Promise<Run>;
  listRuns(input?: ListRunsInput): Promise<Run[]>;
  /** Filters, sorts and pages runs on the server side (MLflow's SearchRuns). */
  searchRuns(input: SearchRunsInput): Promise<SearchRunsResult>;
  /** Params are immutable (as MLflow): logging a key again with another value is an error. */
  logParams(runId: string, params: Record<string, string | number | boolean>): Promise<void>;
  logMetrics(runId: string, metrics: MetricInput[]): Promise<void>;
  getMetricHistory(runId: string, key: string): Promise<MetricPoint[]>;
  setRunTags(runId: string, tags: Record<string, string>): Promise<void>;
  /** Sets a terminal status and the end time (default now). */
  endRun(runId: string, status: Exclude<RunStatus, "RUNNING">, endTime?: number): Promise<Run>;
}

/**
 * Registered models, their versions and aliases (MLflow's model-registry store). A version may
 * name the run that produced it: the run must exist in the tracking store beside it.
 */
export interface ModelRegistryStore extends StoreConnection {
  createRegisteredModel(name: string, description?: string): Promise<RegisteredModel>;
  getRegisteredModel(name: string): Promise<RegisteredModel>;
  listRegisteredModels(): Promise<RegisteredModel[]>;
  /**
   * Allocates the next version number atomically (concurrent registrations from several
   * processes get distinct numbers); creates the registered model when it does not exist.
   */
  createModelVersion(input: CreateModelVersionInput): Promise<ModelVersion>;
  getModelVersion(name: string, version: number): Promise<ModelVersion>;
  /** Ascending by version. */
  listModelVersions(name: string): Promise<ModelVersion[]>;
  /** Creates or moves an alias; the version must exist. */
  setAlias(name: string, alias: string, version: number): Promise<void>;
  deleteAlias(name: string, alias: string): Promise<void>;
  getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion>;
  /** Sets or overwrites tags of a version (other tags stay); the version must exist. */
  setModelVersionTags(name: string, version: number, tags: Record<string, string>): Promise<void>;
  /** Removes one tag of a version; a missing tag is NOT_FOUND. */
  deleteModelVersionTag(name: string, version: number, key: string): Promise<void>;
}

/**
 * What a registry URL opens (see openStore): the tracking store and the model-registry store
 * of one database or registry server (and the deployments' heartbeats and monitoring results),
 * as one object;
 * `close()` releases both.
 */
export type RegistryStore = TrackingStore &
  ModelRegistryStore &
  DeploymentStore &
  MonitorResultStore;

// ── deployments (heartbeats of running serve, stream and scheduled batch processes) ──

export type DeploymentMode = "serve" | "stream" | "batch";
export const DEPLOYMENT_MODES: readonly DeploymentMode[] = ["serve", "stream", "batch"];

/** What a running deployment reports about itself at every beat (see registry/deployments/). */
export interface DeploymentHeartbeat {
  /** Random per process (32 lowercase hex characters): a restarted process is a new deployment. */
  id: string;
  mode: DeploymentMode;
  /** The machine's host name. */
  host: string;
  pid: number;
  /**
   * Where it works: serve, its base URL (`http://host:port`); stream, the source and consumer
   * group; batch, the job id and its schedule.
   */
  endpoint: string;
  /** The model URI as the process was given it (`models:/ride-duration@production`). */
  modelUri: string;
  /** Registered model name, when the URI names one. */
  modelName: string | null;
  /** The version it runs now (the registry's version number as text, or a run id). */
  modelVersion: string | null;
  /** Since when it runs that version. */
  versionSince: number;
  startedAt: number;
  /** Requests (serve), events (stream) or rows (batch) per second over the last interval. */
  rate: number;
  /** How often it beats: it counts as stopped once 3 intervals pass without a beat. */
  intervalMs: number;
}

/** A live deployment as the registry lists it. */
export interface Deployment extends DeploymentHeartbeat {
  /** When the registry received the last beat (the registry's clock). */
  lastBeatAt: number;
  /** What the URI follows: an alias (`production`), `latest`, or null for a fixed version. */
  follows: string | null;
  /** The version the alias (or latest) points at now; null when it follows nothing. */
  targetVersion: number | null;
  /** True when it follows an alias and does not run the version the alias points at now. */
  lagging: boolean;
}

/** Running deployments' heartbeats: reported, listed while they beat, removed at shutdown. */
export interface DeploymentStore {
  /** Creates or updates the deployment of `heartbeat.id`; the registry stamps the beat time. */
  reportDeployment(heartbeat: DeploymentHeartbeat): Promise<void>;
  /**
   * The live ones (a beat within their last 3 intervals), newest start first; stale ones are
   * left out, and deleted once stale for an hour.
   */
  listDeployments(): Promise<Deployment[]>;
  /** At graceful shutdown; an unknown id is not an error (it may have gone stale and been deleted). */
  removeDeployment(id: string): Promise<void>;
}

// ── monitoring results (written by `mldeploy monitor`, read by the UI and the CLI) ──

/**
 * One row of the monitoring results table: one window, model version, metric and column
 * ('' for model-level metrics). A later pass over the same window, version, metric and column
 * replaces the row. Metric names:
 *   per column:  drift_score, drifted (0|1), missing_share, new_category_share
 *   per version: dataset_drift (0|1), drift_share, rows, rmse, mae, bias, matched, out_of_range,
 *                training_rmse, regressed (0|1)
 * `value` is null for "no data".
 */
export interface MonitorResultRow {
  model: string;
  version: string;
  /** Window bounds, ms since the epoch. */
  windowStart: number;
  windowEnd: number;
  metric: string;
  /** '' for model-level metrics. */
  column: string;
  value: number | null;
  /** The monitoring run holding report.html; null when no run was recorded. */
  runId: string | null;
}

export interface MonitorResultQuery {
  model: string;
  version?: string;
  /** Only these metrics (all when absent). */
  metrics?: string[];
  column?: string;
  /** Windows ending after `from` and starting before `to` (ms since the epoch). */
  from?: number;
  to?: number;
  /** Only the rows of each version's newest this-many windows (all windows when absent). */
  windowsPerVersion?: number;
  /** Newest windows first; at most this many rows (default 10,000). */
  limit?: number;
}

/** Drift and error statistics per window (migration 0007_monitor_results). */
export interface MonitorResultStore {
  /** Inserts or replaces rows, keyed by (model, version, windowStart, windowEnd, metric, column). */
  putMonitorResults(rows: MonitorResultRow[]): Promise<void>;
  /** Matching rows, newest window first, then metric and column by name. */
  searchMonitorResults(query: MonitorResultQuery): Promise<MonitorResultRow[]>;
}

/**
 * One window of one model version in a monitoring summary: its bounds, the run holding its
 * report (null when none was recorded) and its model-level metrics (metric → value; null for
 * "no data"): dataset_drift, drift_share, rows, rmse, mae, bias, matched, training_rmse,
 * regressed…
 */
export interface MonitorWindowSummary {
  windowStart: number;
  windowEnd: number;
  runId: string | null;
  metrics: Record<string, number | null>;
}

/** The per-column metrics of one window (drift_score, drifted, missing_share…). */
export interface MonitorColumnSummary {
  column: string;
  metrics: Record<string, number | null>;
}

/** What the web UI shows of one model version: its latest window in full, and its history. */
export interface MonitorVersionSummary {
  version: string;
  latest: MonitorWindowSummary & { columns: MonitorColumnSummary[] };
  /** Its windows, oldest first (what the charts draw), model-level metrics only. */
  windows: MonitorWindowSummary[];
  /** More windows exist than `windows` holds (the oldest were left out). */
  truncated: boolean;
}

/** A model's monitoring results as the web UI reads them (GET /monitor-results/summary). */
export interface MonitorSummary {
  model: string;
  /** Newest latest window first; empty when the model has no results yet. */
  versions: MonitorVersionSummary[];
}
