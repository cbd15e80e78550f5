import { normalizeArtifactLocation } from "./artifact-location.js";
import { notFound, segment, type RegistryHttpClient } from "./http-client.js";
import { validateKey, validateMetricValue } from "./names.js";
import type {
  CreateRunInput,
  Experiment,
  ExperimentKeys,
  ExperimentSummary,
  ListRunsInput,
  SearchRunsInput,
  SearchRunsResult,
  MetricInput,
  MetricPoint,
  Run,
  RunStatus,
  TrackingStore,
} from "./types.js";

/** The tracking store of a registry server, over its JSON API (see RegistryHttpClient). */
export class HttpTrackingStore implements TrackingStore {
  readonly description: string;

  constructor(private readonly client: RegistryHttpClient) {
    this.description = client.description;
  }

  // Every method is async, so that an argument refused before any request rejects the promise
  // (as with the SQL stores) instead of throwing synchronously.

  // ── experiments ──

  async createExperiment(
    name: string,
    options: { artifactLocation?: string; tags?: Record<string, string> } = {},
  ): Promise<Experiment> {
    return this.client.request("POST", "/experiments", {
      body: {
        name,
        artifactLocation: this.localLocation(options.artifactLocation),
        tags: options.tags,
      },
    });
  }

  async getExperiment(id: string): Promise<Experiment> {
    return this.client.request("GET", `/experiments/${segment(id, notFound("experiment", id))}`);
  }

  async findExperimentByName(name: string): Promise<Experiment | undefined> {
    const found = await this.client.request<Experiment[]>("GET", "/experiments", {
      query: { name },
    });
    return found[0];
  }

  async listExperiments(): Promise<Experiment[]> {
    return this.client.request("GET", "/experiments");
  }

  async listExperimentSummaries(): Promise<ExperimentSummary[]> {
    return this.client.request("GET", "/experiment-summaries");
  }

  async getExperimentKeys(id: string): Promise<ExperimentKeys> {
    return this.client.request(
      "GET",
      `/experiments/${segment(id, notFound("experiment", id))}/keys`,
    );
  }

  // ── runs ──

  async createRun(input: CreateRunInput): Promise<Run> {
    return this.client.request("POST", "/runs", { body: input });
  }

  async getRun(id: string): Promise<Run> {
    return this.client.request("GET", this.runPath(id));
  }

  async listRuns(input: ListRunsInput = {}): Promise<Run[]> {
    const { experimentId, status, limit } = input;
    return this.client.request("GET", "/runs", { query: { experimentId, status, limit } });
  }

  async searchRuns(input: SearchRunsInput): Promise<SearchRunsResult> {
    const { experimentIds, filter, orderBy, maxResults, pageToken, includeTotal } = input;
    return this.client.request("POST", "/runs/search", {
      body: { experimentIds, filter, orderBy, maxResults, pageToken, includeTotal },
    });
  }

  async logParams(runId: string, params: Record<string, string | number | boolean>): Promise<void> {
    // Sent as the strings the store would make of them: JSON turns NaN into null, but the store
    // records String(NaN) = "NaN" as any other number.
    const sent: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(params)) {
      sent[key] = typeof value === "number" || typeof value === "boolean" ? String(value) : value;
    }
    await this.client.request("POST", `${this.runPath(runId)}/params`, { body: { params: sent } });
  }

  async logMetrics(runId: string, metrics: MetricInput[]): Promise<void> {
    // JSON cannot carry NaN or ±Infinity (they would arrive as null): refuse them here, with
    // the store's own checks and message.
    for (const metric of metrics) {
      if (typeof metric.value === "number" && !Number.isFinite(metric.value)) {
        validateMetricValue(validateKey("metric", metric.key), metric.value);
      }
    }
    await this.client.request("POST", `${this.runPath(runId)}/metrics`, { body: { metrics } });
  }

  async getMetricHistory(runId: string, key: string): Promise<MetricPoint[]> {
    const keyPath = segment(key, () => void validateKey("metric", key));
    return this.client.request("GET", `${this.runPath(runId)}/metrics/${keyPath}`);
  }

  async setRunTags(runId: string, tags: Record<string, string>): Promise<void> {
    await this.client.request("POST", `${this.runPath(runId)}/tags`, { body: { tags } });
  }

  async endRun(
    runId: string,
    status: Exclude<RunStatus, "RUNNING">,
    endTime?: number,
  ): Promise<Run> {
    return this.client.request("POST", `${this.runPath(runId)}/end`, { body: { status, endTime } });
  }

  /** Nothing to release: fetch's connection pool closes idle sockets by itself. */
  async close(): Promise<void> {}

  private runPath(id: string): string {
    return `/runs/${segment(id, notFound("run", id))}`;
  }

  /**
   * A relative artifact path means the caller's working directory, as with a local store; the
   * server's working directory would mean nothing to the caller.
   */
  private localLocation(location: string | undefined): string | undefined {
    if (typeof location !== "string" || location.trim() === "") return location;
    return normalizeArtifactLocation(location);
  }
}
