import { RegistryError } from "../errors.js";
import {
  experimentArtifactLocation,
  normalizeArtifactLocation,
  runArtifactUri,
} from "./artifact-location.js";
import { generateRunName, newId } from "./ids.js";
import {
  compileRunCount,
  compileRunSearch,
  createPageToken,
  DEFAULT_MAX_RESULTS,
  MAX_RESULTS,
  parsePageToken,
} from "./run-search-sql.js";
import { foldLatest } from "./latest-metrics.js";
import {
  requireId,
  validateExperimentName,
  validateInteger,
  validateKey,
  validateMetricValue,
  validateParamValue,
  validateRunName,
  validateTags,
} from "./names.js";
import {
  chunks,
  insertRows,
  placeholders,
  type SqlDatabase,
  type SqlExecutor,
  type SqlInt,
  type SqlValue,
} from "./sql-database.js";
import { experimentRow, insertUnique, lockedRun, runRow, setKeyValues } from "./sql-lookups.js";
import {
  EXPERIMENT_COLUMNS,
  hydrateExperiments,
  hydrateRuns,
  RUN_COLUMNS,
  toMetricPoint,
  type ExperimentRow,
  type MetricRow,
  type RunRow,
} from "./sql-rows.js";
import {
  RUN_STATUSES,
  type CreateRunInput,
  type Experiment,
  type ExperimentKeys,
  type ExperimentSummary,
  type ListRunsInput,
  type MetricInput,
  type MetricPoint,
  type Run,
  type RunStatus,
  type SearchRunsInput,
  type SearchRunsResult,
  type TrackingStore,
} from "./types.js";

export interface SqlTrackingStoreOptions {
  /** Where experiments created without an artifact location put their runs. */
  artifactRoot: string;
  description: string;
}

const MAX_LIST_RUNS = 10_000;

/**
 * The tracking store over SQL, shared by SQLite and PostgreSQL: experiments, runs, their
 * params, metrics and tags, with validation, ids, defaults and every statement.
 */
export class SqlTrackingStore implements TrackingStore {
  readonly description: string;
  /** Where experiments created without an artifact location put their runs (normalized). */
  readonly artifactRoot: string;

  constructor(
    private readonly db: SqlDatabase,
    options: SqlTrackingStoreOptions,
  ) {
    this.description = options.description;
    this.artifactRoot = normalizeArtifactLocation(options.artifactRoot);
  }

  // ── experiments ──────────────────────────────────────────────────────────────────────────

  async createExperiment(
    name: string,
    options: { artifactLocation?: string; tags?: Record<string, string> } = {},
  ): Promise<Experiment> {
    validateExperimentName(name);
    const tags = validateTags(options.tags);
    const id = newId();
    const artifactLocation =
      options.artifactLocation === undefined
        ? experimentArtifactLocation(this.artifactRoot, id)
        : normalizeArtifactLocation(options.artifactLocation);
    const createdAt = Date.now();
    await this.db.write(async (tx) => {
      await insertUnique(this.db, `experiment "${name}" already exists`, () =>
        tx.run(
          "INSERT INTO experiments (id, name, artifact_location, created_at) VALUES (?, ?, ?, ?)",
          [id, name, artifactLocation, createdAt],
        ),
      );
      await setKeyValues(tx, "experiment_tags", "experiment_id", id, tags);
    });
    return { id, name, artifactLocation, createdAt, tags };
  }

  async getExperiment(id: string): Promise<Experiment> {
    requireId("experiment", id);
    return this.db.read(async (q) => {
      const [experiment] = await hydrateExperiments(q, [await experimentRow(q, id)]);
      return experiment;
    });
  }

  async findExperimentByName(name: string): Promise<Experiment | undefined> {
    validateExperimentName(name);
    return this.db.read(async (q) => {
      const rows = await q.query<ExperimentRow>(
        `SELECT ${EXPERIMENT_COLUMNS} FROM experiments WHERE name = ?`,
        [name],
      );
      return (await hydrateExperiments(q, rows))[0];
    });
  }

  /** In creation order. */
  async listExperiments(): Promise<Experiment[]> {
    return this.db.read(async (q) =>
      hydrateExperiments(
        q,
        await q.query<ExperimentRow>(`SELECT ${EXPERIMENT_COLUMNS} FROM experiments ORDER BY seq`),
      ),
    );
  }

  /**
   * One grouped query over experiments and runs (the runs_by_experiment index finds each
   * experiment's runs); experiment tags come from a second one, as everywhere.
   */
  async listExperimentSummaries(): Promise<ExperimentSummary[]> {
    return this.db.read(async (q) => {
      const rows = await q.query<
        ExperimentRow & { run_count: SqlInt; last_start: SqlInt | null; last_end: SqlInt | null }
      >(
        `SELECT ${EXPERIMENT_COLUMNS.split(", ")
          .map((column) => `e.${column}`)
          .join(", ")}, COUNT(r.id) AS run_count, ` +
          "MAX(r.start_time) AS last_start, MAX(r.end_time) AS last_end " +
          "FROM experiments e LEFT JOIN runs r ON r.experiment_id = e.id " +
          "GROUP BY e.seq ORDER BY e.seq",
      );
      const experiments = await hydrateExperiments(q, rows);
      return experiments.map((experiment, i) => ({
        ...experiment,
        runCount: Number(rows[i].run_count),
        lastActivity: Math.max(
          experiment.createdAt,
          Number(rows[i].last_start ?? 0),
          Number(rows[i].last_end ?? 0),
        ),
      }));
    });
  }

  /** From experiment_keys, which the writes keep (migration 0006). */
  async getExperimentKeys(id: string): Promise<ExperimentKeys> {
    requireId("experiment", id);
    return this.db.read(async (q) => {
      await experimentRow(q, id);
      const rows = await q.query<{ kind: "param" | "metric" | "tag"; key: string }>(
        "SELECT kind, key FROM experiment_keys WHERE experiment_id = ? ORDER BY kind, key",
        [id],
      );
      const keys: ExperimentKeys = { params: [], metrics: [], tags: [] };
      for (const row of rows) keys[`${row.kind}s`].push(row.key);
      return keys;
    });
  }

  // ── runs ─────────────────────────────────────────────────────────────────────────────────

  async createRun(input: CreateRunInput): Promise<Run> {
    requireId("experiment", input.experimentId);
    const name = input.name === undefined ? generateRunName() : validateRunName(input.name);
    const tags = validateTags(input.tags);
    const startTime =
      input.startTime === undefined
        ? Date.now()
        : validateInteger("run start time", input.startTime, 0);
    const id = newId();
    return this.db.write(async (tx) => {
      const experiment = await experimentRow(tx, input.experimentId);
      const artifactUri = runArtifactUri(experiment.artifact_location, id);
      await tx.run(
        "INSERT INTO runs (id, experiment_id, name, status, start_time, end_time, artifact_uri) " +
          "VALUES (?, ?, ?, 'RUNNING', ?, NULL, ?)",
        [id, experiment.id, name, startTime, artifactUri],
      );
      await setKeyValues(tx, "run_tags", "run_id", id, tags);
      await noteKeys(tx, experiment.id, "tag", Object.keys(tags));
      return {
        id,
        experimentId: experiment.id,
        name,
        status: "RUNNING",
        startTime,
        endTime: null,
        artifactUri,
        params: {},
        tags,
        latestMetrics: {},
      };
    });
  }

  async getRun(id: string): Promise<Run> {
    requireId("run", id);
    return this.db.read(async (q) => (await hydrateRuns(q, [await runRow(q, id)]))[0]);
  }

  /** Newest first (start time, then creation order); at most 10 000. */
  async listRuns(input: ListRunsInput = {}): Promise<Run[]> {
    const limit =
      input.limit === undefined ? 100 : validateInteger("run list limit", input.limit, 1);
    if (input.status !== undefined && !RUN_STATUSES.includes(input.status)) {
      throw new RegistryError("INVALID_VALUE", `unknown run status "${String(input.status)}"`);
    }
    return this.db.read(async (q) => {
      const where: string[] = [];
      const params: SqlValue[] = [];
      if (input.experimentId !== undefined) {
        await experimentRow(q, requireId("experiment", input.experimentId));
        where.push("experiment_id = ?");
        params.push(input.experimentId);
      }
      if (input.status !== undefined) {
        where.push("status = ?");
        params.push(input.status);
      }
      const rows = await q.query<RunRow>(
        `SELECT ${RUN_COLUMNS} FROM runs ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ` +
          "ORDER BY start_time DESC, seq DESC LIMIT ?",
        [...params, Math.min(limit, MAX_LIST_RUNS)],
      );
      return hydrateRuns(q, rows);
    });
  }

  /** One page of runs matching a filter in MLflow's syntax, in the order asked for. */
  async searchRuns(input: SearchRunsInput): Promise<SearchRunsResult> {
    const experimentIds = input.experimentIds ?? [];
    if (!Array.isArray(experimentIds)) {
      throw new RegistryError("INVALID_VALUE", "experimentIds must be a list");
    }
    const orderBy = input.orderBy ?? [];
    if (!Array.isArray(orderBy) || orderBy.some((term) => typeof term !== "string")) {
      throw new RegistryError("INVALID_VALUE", "orderBy must be a list of strings");
    }
    const filter = input.filter ?? "";
    if (typeof filter !== "string") throw new RegistryError("INVALID_VALUE", "filter must be text");
    const maxResults =
      input.maxResults === undefined
        ? DEFAULT_MAX_RESULTS
        : validateInteger("maxResults", input.maxResults, 1);
    if (maxResults > MAX_RESULTS) {
      throw new RegistryError(
        "INVALID_VALUE",
        `maxResults is at most ${MAX_RESULTS}, not ${maxResults}`,
      );
    }
    const includeTotal = input.includeTotal ?? false;
    if (typeof includeTotal !== "boolean") {
      throw new RegistryError("INVALID_VALUE", "includeTotal must be true or false");
    }
    const offset = parsePageToken(input.pageToken);
    // One row more than the page tells whether there is a next one.
    const query = compileRunSearch(
      { experimentIds, filter, orderBy, limit: maxResults + 1, offset },
      this.db.dialect,
    );
    return this.db.read(async (q) => {
      for (const id of experimentIds) await experimentRow(q, requireId("experiment", id));
      const order = await q.query<{ seq: SqlInt }>(query.sql, query.params);
      let total: number | undefined;
      if (includeTotal) {
        // A last page that holds any run tells the total without another statement.
        const lastPage = order.length <= maxResults && (order.length > 0 || offset === 0);
        total = lastPage ? offset + order.length : await this.countRuns(q, experimentIds, filter);
      }
      const page = order.slice(0, maxResults).map((row) => Number(row.seq));
      const bySeq = new Map<number, RunRow>();
      for (const part of chunks(page)) {
        const rows = await q.query<RunRow & { seq: SqlInt }>(
          `SELECT ${RUN_COLUMNS}, seq FROM runs WHERE seq IN (${placeholders(part.length)})`,
          part,
        );
        for (const row of rows) bySeq.set(Number(row.seq), row);
      }
      const runs = await hydrateRuns(
        q,
        page.map((seq) => bySeq.get(seq)).filter((row) => row !== undefined),
      );
      const result: SearchRunsResult = { runs };
      if (order.length > maxResults) result.nextPageToken = createPageToken(offset + maxResults);
      if (total !== undefined) result.total = total;
      return result;
    });
  }

  /** How many runs a search matches over all its pages: one COUNT(*) with the search's WHERE. */
  private async countRuns(
    q: SqlExecutor,
    experimentIds: readonly string[],
    filter: string,
  ): Promise<number> {
    const count = compileRunCount({ experimentIds, filter }, this.db.dialect);
    const [row] = await q.query<{ total: SqlInt }>(count.sql, count.params);
    return Number(row.total);
  }

  async logParams(runId: string, params: Record<string, string | number | boolean>): Promise<void> {
    requireId("run", runId);
    if (typeof params !== "object" || params === null) {
      throw new RegistryError("INVALID_VALUE", "params must be an object");
    }
    const entries = Object.entries(params).map(
      ([key, value]) => [validateKey("param", key), validateParamValue(key, value)] as const,
    );
    await this.db.write(async (tx) => {
      const run = await this.activeRun(tx, runId, "log params to");
      const logged = await tx.query<{ key: string; value: string }>(
        "SELECT key, value FROM params WHERE run_id = ?",
        [runId],
      );
      const existing = new Map(logged.map((row) => [row.key, row.value]));
      for (const [key, value] of entries) {
        const before = existing.get(key);
        if (before !== undefined && before !== value) {
          throw new RegistryError(
            "INVALID_VALUE",
            `param "${key}" of run ${runId} is already "${before}"; params cannot change ` +
              `(tried "${value}"): log it under another key or start a new run`,
          );
        }
      }
      // Re-logging the same value is allowed (as MLflow) and writes nothing.
      const fresh = entries.filter(([key]) => !existing.has(key));
      await insertRows(
        tx,
        "params",
        ["run_id", "key", "value"],
        fresh.map(([key, value]) => [runId, key, value]),
      );
      await noteKeys(
        tx,
        run.experiment_id,
        "param",
        fresh.map(([key]) => key),
      );
    });
  }

  async logMetrics(runId: string, metrics: MetricInput[]): Promise<void> {
    requireId("run", runId);
    if (!Array.isArray(metrics)) throw new RegistryError("INVALID_VALUE", "metrics must be a list");
    const now = Date.now();
    const points: MetricPoint[] = metrics.map((metric) => {
      const key = validateKey("metric", metric.key);
      return {
        key,
        value: validateMetricValue(key, metric.value),
        step: validateInteger(`metric "${key}" step`, metric.step ?? 0, 0),
        timestamp: validateInteger(`metric "${key}" timestamp`, metric.timestamp ?? now, 0),
      };
    });
    await this.db.write(async (tx) => {
      const run = await this.activeRun(tx, runId, "log metrics to");
      if (points.length === 0) return;
      await insertRows(
        tx,
        "metrics",
        ["run_id", "key", "value", "step", "timestamp"],
        points.map((p) => [runId, p.key, p.value, p.step, p.timestamp]),
      );
      // The run row is locked (or the database is), so this read-then-write cannot race.
      const current = await tx.query<MetricRow>(
        "SELECT key, value, step, timestamp FROM latest_metrics WHERE run_id = ?",
        [runId],
      );
      const changed = foldLatest(
        new Map(current.map((row) => [row.key, toMetricPoint(row)])),
        points,
      );
      await insertRows(
        tx,
        "latest_metrics",
        ["run_id", "key", "value", "step", "timestamp"],
        [...changed.values()].map((p) => [runId, p.key, p.value, p.step, p.timestamp]),
        " ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, " +
          "step = excluded.step, timestamp = excluded.timestamp",
      );
      await noteKeys(tx, run.experiment_id, "metric", [...changed.keys()]);
    });
  }

  /**
   * Ordered by step, then timestamp, then logging order. Histories run to 100,000 points and
   * more (a chart's full history): the key is not read back per row, it is the one asked for.
   */
  async getMetricHistory(runId: string, key: string): Promise<MetricPoint[]> {
    requireId("run", runId);
    validateKey("metric", key);
    return this.db.read(async (q) => {
      await runRow(q, runId);
      const rows = await q.query<Omit<MetricRow, "key">>(
        "SELECT value, step, timestamp FROM metrics WHERE run_id = ? AND key = ? " +
          "ORDER BY step, timestamp, seq",
        [runId, key],
      );
      const points = new Array<MetricPoint>(rows.length);
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i];
        points[i] = {
          key,
          value: Number(row.value),
          step: Number(row.step),
          timestamp: Number(row.timestamp),
        };
      }
      return points;
    });
  }

  /** Allowed on ended runs too: tags annotate a run (e.g. a review verdict) after the fact. */
  async setRunTags(runId: string, tags: Record<string, string>): Promise<void> {
    requireId("run", runId);
    const valid = validateTags(tags);
    await this.db.write(async (tx) => {
      const run = await lockedRun(tx, this.db.lockRow, runId);
      await setKeyValues(tx, "run_tags", "run_id", runId, valid);
      await noteKeys(tx, run.experiment_id, "tag", Object.keys(valid));
    });
  }

  async endRun(
    runId: string,
    status: Exclude<RunStatus, "RUNNING">,
    endTime: number = Date.now(),
  ): Promise<Run> {
    requireId("run", runId);
    // Checked at run time too: JavaScript and HTTP callers bypass the type.
    if ((status as RunStatus) === "RUNNING" || !RUN_STATUSES.includes(status)) {
      throw new RegistryError(
        "INVALID_VALUE",
        `a run ends as FINISHED, FAILED or KILLED, not "${String(status)}"`,
      );
    }
    validateInteger("run end time", endTime, 0);
    return this.db.write(async (tx) => {
      await this.activeRun(tx, runId, "end");
      await tx.run("UPDATE runs SET status = ?, end_time = ? WHERE id = ?", [
        status,
        endTime,
        runId,
      ]);
      return (await hydrateRuns(tx, [await runRow(tx, runId)]))[0];
    });
  }

  /** Closes the database (which a model-registry store beside it may share). */
  async close(): Promise<void> {
    await this.db.close();
  }

  /** Locks a run that is still RUNNING, for a change only running runs accept. */
  private async activeRun(tx: SqlExecutor, runId: string, action: string): Promise<RunRow> {
    const run = await lockedRun(tx, this.db.lockRow, runId);
    if (run.status !== "RUNNING") {
      throw new RegistryError(
        "INVALID_STATE",
        `cannot ${action} run ${runId}: it has already ended (${run.status})`,
      );
    }
    return run;
  }
}

/** Records keys an experiment's runs now have (experiment_keys); known ones are left alone. */
async function noteKeys(
  tx: SqlExecutor,
  experimentId: string,
  kind: "param" | "metric" | "tag",
  keys: readonly string[],
): Promise<void> {
  await insertRows(
    tx,
    "experiment_keys",
    ["experiment_id", "kind", "key"],
    [...new Set(keys)].map((key) => [experimentId, kind, key]),
    " ON CONFLICT DO NOTHING",
  );
}
