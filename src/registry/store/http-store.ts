import { setTimeout as sleep } from "node:timers/promises";
import { UserError } from "../../config/errors.js";
import { RegistryError } from "../errors.js";
import { API_PREFIX, INTERNAL_ERROR_CODE, isRegistryErrorCode } from "../server/wire.js";
import { normalizeArtifactLocation } from "./artifact-location.js";
import { validateAlias, validateKey, validateMetricValue, validateModelName } from "./names.js";
import type {
  CreateModelVersionInput,
  CreateRunInput,
  Experiment,
  ListRunsInput,
  MetricInput,
  MetricPoint,
  ModelVersion,
  RegisteredModel,
  Run,
  RunStatus,
  RegistryStore,
} from "./types.js";

export interface HttpStoreOptions {
  /** The registry server, `http(s)://host:port[/base-path]` (what MLDEPLOY_REGISTRY_URL holds). */
  url: string;
  /** Bearer token; default MLDEPLOY_REGISTRY_TOKEN. */
  token?: string;
  /** Per request, connecting and reading the answer included. Default 30 s. */
  timeoutMs?: number;
  /** Extra attempts of a GET whose connection failed. Default 2. */
  retries?: number;
  /** Wait before the first retry; each later one waits 3× longer. Default 100 ms. */
  retryDelayMs?: number;
  /** For tests; default the global fetch. */
  fetch?: typeof fetch;
}

type Method = "GET" | "POST" | "PUT" | "DELETE";
type Query = Record<string, string | number | undefined>;

// Failures of the connection itself, where a GET can safely be sent again. Not ENOTFOUND: a
// misspelt host does not start resolving a moment later.
const RETRYABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
]);
const UNREACHABLE = new Set([...RETRYABLE, "ENOTFOUND", "EHOSTUNREACH", "ENETUNREACH"]);

/** The errno-style code of a fetch failure: undici wraps it in `cause`, sometimes in an AggregateError. */
function networkCode(error: unknown, depth = 0): string | undefined {
  if (typeof error !== "object" || error === null || depth > 4) return undefined;
  const { code, cause, errors } = error as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof code === "string" && (UNREACHABLE.has(code) || code.startsWith("UND_ERR"))) {
    return code;
  }
  const nested = [cause, ...(Array.isArray(errors) ? errors : [])];
  for (const inner of nested) {
    const found = networkCode(inner, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Values a URL path cannot carry: fetch drops "." and ".." segments (also when percent-encoded)
 * and an empty segment turns `/runs/` into the list route. Such a value is refused here with
 * the error the store would give (`refuse`), without a request.
 */
function segment(value: string, refuse: () => RegistryError | void): string {
  const text = String(value);
  if (text === "" || text === "." || text === "..") {
    throw refuse() ?? new RegistryError("INVALID_VALUE", `"${text}" cannot be sent in a URL path`);
  }
  return encodeURIComponent(text);
}

const notFound = (what: string, id: string) => () =>
  new RegistryError("NOT_FOUND", `${what} "${id}" not found`);
const modelName = (name: string) => segment(name, () => void validateModelName(name));

/**
 * The RegistryStore of a registry server (`mldeploy registry-server`), over its JSON API.
 * Errors come back as the RegistryError the server's store raised, with the same code and
 * message, so callers cannot tell a remote registry from a local one by its errors.
 */
export class HttpStore implements RegistryStore {
  readonly description: string;
  /** The server's URL as given, without the API prefix (and without any token). */
  private readonly root: string;
  private readonly base: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly retryDelayMs: number;
  private readonly fetch: typeof fetch;

  constructor(options: HttpStoreOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      // Not echoed: an unparsable URL may still hold a password.
      throw new UserError(
        "the registry server URL is not a valid URL: check MLDEPLOY_REGISTRY_URL",
      );
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new UserError(`registry server URL must be http(s), not ${url.protocol}`);
    }
    // fetch refuses URLs with credentials anyway; say where the token goes instead.
    if (url.username !== "" || url.password !== "") {
      throw new UserError(
        "put the registry server's token in MLDEPLOY_REGISTRY_TOKEN, not in the URL",
      );
    }
    // Accept the URL with or without the API prefix; keep a reverse proxy's base path.
    const basePath = url.pathname.replace(/\/+$/, "").replace(new RegExp(`${API_PREFIX}$`), "");
    this.root = `${url.origin}${basePath}`;
    this.base = `${this.root}${API_PREFIX}`;
    const token = options.token ?? process.env.MLDEPLOY_REGISTRY_TOKEN;
    this.token = token === "" ? undefined : token;
    // The token never appears here: descriptions end up in logs and `mldeploy info`.
    this.description = this.token === undefined ? this.root : `${this.root} (bearer token)`;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.retries = options.retries ?? 2;
    this.retryDelayMs = options.retryDelayMs ?? 100;
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  // Every method is async, so that an argument refused before any request rejects the promise
  // (as with the SQL stores) instead of throwing synchronously.

  // ── experiments ──

  async createExperiment(
    name: string,
    options: { artifactLocation?: string; tags?: Record<string, string> } = {},
  ): Promise<Experiment> {
    return this.request("POST", "/experiments", {
      body: {
        name,
        artifactLocation: this.localLocation(options.artifactLocation),
        tags: options.tags,
      },
    });
  }

  async getExperiment(id: string): Promise<Experiment> {
    return this.request("GET", `/experiments/${segment(id, notFound("experiment", id))}`);
  }

  async findExperimentByName(name: string): Promise<Experiment | undefined> {
    const found = await this.request<Experiment[]>("GET", "/experiments", { query: { name } });
    return found[0];
  }

  async listExperiments(): Promise<Experiment[]> {
    return this.request("GET", "/experiments");
  }

  // ── runs ──

  async createRun(input: CreateRunInput): Promise<Run> {
    return this.request("POST", "/runs", { body: input });
  }

  async getRun(id: string): Promise<Run> {
    return this.request("GET", this.runPath(id));
  }

  async listRuns(input: ListRunsInput = {}): Promise<Run[]> {
    const { experimentId, status, limit } = input;
    return this.request("GET", "/runs", { query: { experimentId, status, limit } });
  }

  async logParams(runId: string, params: Record<string, string | number | boolean>): Promise<void> {
    // Sent as the strings the store would make of them: JSON turns NaN into null, but the store
    // records String(NaN) = "NaN" as any other number.
    const sent: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(params)) {
      sent[key] = typeof value === "number" || typeof value === "boolean" ? String(value) : value;
    }
    await this.request("POST", `${this.runPath(runId)}/params`, { body: { params: sent } });
  }

  async logMetrics(runId: string, metrics: MetricInput[]): Promise<void> {
    // JSON cannot carry NaN or ±Infinity (they would arrive as null): refuse them here, with
    // the store's own checks and message.
    for (const metric of metrics) {
      if (typeof metric.value === "number" && !Number.isFinite(metric.value)) {
        validateMetricValue(validateKey("metric", metric.key), metric.value);
      }
    }
    await this.request("POST", `${this.runPath(runId)}/metrics`, { body: { metrics } });
  }

  async getMetricHistory(runId: string, key: string): Promise<MetricPoint[]> {
    const keyPath = segment(key, () => void validateKey("metric", key));
    return this.request("GET", `${this.runPath(runId)}/metrics/${keyPath}`);
  }

  async setRunTags(runId: string, tags: Record<string, string>): Promise<void> {
    await this.request("POST", `${this.runPath(runId)}/tags`, { body: { tags } });
  }

  async endRun(
    runId: string,
    status: Exclude<RunStatus, "RUNNING">,
    endTime?: number,
  ): Promise<Run> {
    return this.request("POST", `${this.runPath(runId)}/end`, { body: { status, endTime } });
  }

  // ── model registry ──

  async createRegisteredModel(name: string, description?: string): Promise<RegisteredModel> {
    return this.request("POST", "/models", { body: { name, description } });
  }

  async getRegisteredModel(name: string): Promise<RegisteredModel> {
    return this.request("GET", `/models/${modelName(name)}`);
  }

  async listRegisteredModels(): Promise<RegisteredModel[]> {
    return this.request("GET", "/models");
  }

  async createModelVersion(input: CreateModelVersionInput): Promise<ModelVersion> {
    const { name, ...body } = input;
    return this.request("POST", `/models/${modelName(name)}/versions`, { body });
  }

  async getModelVersion(name: string, version: number): Promise<ModelVersion> {
    return this.request("GET", `/models/${modelName(name)}/versions/${String(version)}`);
  }

  async listModelVersions(name: string): Promise<ModelVersion[]> {
    return this.request("GET", `/models/${modelName(name)}/versions`);
  }

  async setAlias(name: string, alias: string, version: number): Promise<void> {
    await this.request("PUT", this.aliasPath(name, alias), { body: { version } });
  }

  async deleteAlias(name: string, alias: string): Promise<void> {
    await this.request("DELETE", this.aliasPath(name, alias));
  }

  async getModelVersionByAlias(name: string, alias: string): Promise<ModelVersion> {
    return this.request("GET", this.aliasPath(name, alias));
  }

  /** Nothing to release: fetch's connection pool closes idle sockets by itself. */
  async close(): Promise<void> {}

  // ── transport ──

  private runPath(id: string): string {
    return `/runs/${segment(id, notFound("run", id))}`;
  }

  private aliasPath(name: string, alias: string): string {
    return `/models/${modelName(name)}/aliases/${segment(alias, () => void validateAlias(alias))}`;
  }

  /**
   * A relative artifact path means the caller's working directory, as with a local store; the
   * server's working directory would mean nothing to the caller.
   */
  private localLocation(location: string | undefined): string | undefined {
    if (typeof location !== "string" || location.trim() === "") return location;
    return normalizeArtifactLocation(location);
  }

  private async request<T>(
    method: Method,
    path: string,
    options: { query?: Query; body?: unknown } = {},
  ): Promise<T> {
    const url = this.base + path + queryString(options.query);
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.body);
    }
    // Only GETs are retried: a POST whose connection broke may have been applied already.
    const attempts = method === "GET" ? 1 + this.retries : 1;
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await this.fetch(url, {
          method,
          headers,
          body,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        return await this.answer<T>(response, method, path);
      } catch (error) {
        if (error instanceof UserError) throw error;
        const code = networkCode(error);
        if (code !== undefined && RETRYABLE.has(code) && attempt < attempts) {
          await sleep(this.retryDelayMs * 3 ** (attempt - 1));
          continue;
        }
        throw this.transportError(method, path, error, code);
      }
    }
  }

  /** The parsed body of a 2xx; otherwise the error it carries, as the store would raise it. */
  private async answer<T>(response: Response, method: Method, path: string): Promise<T> {
    const text = await response.text();
    if (response.ok) return (text === "" ? undefined : JSON.parse(text)) as T;

    const error = errorOf(text);
    if (error !== undefined && isRegistryErrorCode(error.code)) {
      throw new RegistryError(error.code, error.message);
    }
    const where = `${method} ${API_PREFIX}${path}`;
    if (error?.code === INTERNAL_ERROR_CODE) {
      throw new UserError(
        `the registry server at ${this.root} failed on ${where}: ${error.message}`,
      );
    }
    // Not our server's answer (a proxy's error page, another service on that port).
    const snippet = text.length > 200 ? `${text.slice(0, 200)}…` : text;
    throw new UserError(
      `the registry server at ${this.root} answered ${response.status} ` +
        `${response.statusText} to ${where}${snippet ? `: ${snippet}` : ""}`,
    );
  }

  private transportError(
    method: Method,
    path: string,
    error: unknown,
    code: string | undefined,
  ): Error {
    const where = `${method} ${API_PREFIX}${path}`;
    if (error instanceof Error && error.name === "TimeoutError") {
      return new UserError(
        `the registry server at ${this.root} did not answer ${where} within ${this.timeoutMs} ms`,
        { cause: error },
      );
    }
    if (code !== undefined) {
      return new UserError(
        `cannot reach the registry server at ${this.root} (${code}): ` +
          "is it running, and does MLDEPLOY_REGISTRY_URL point at it?",
        { cause: error },
      );
    }
    if (error instanceof SyntaxError) {
      return new UserError(
        `the registry server at ${this.root} answered ${where} with invalid JSON`,
        { cause: error },
      );
    }
    return new UserError(
      `request to the registry server at ${this.root} failed (${where}): ${
        error instanceof Error ? error.message : String(error)
      }`,
      { cause: error },
    );
  }
}

function queryString(query: Query | undefined): string {
  if (query === undefined) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) params.set(key, String(value));
  }
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

/** The `{ "error": { code, message } }` of an API error answer, if the text is one. */
function errorOf(text: string): { code: unknown; message: string } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const error = (parsed as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (typeof error !== "object" || error === null || typeof error.message !== "string") {
    return undefined;
  }
  return { code: error.code, message: error.message };
}
