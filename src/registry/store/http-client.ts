import { setTimeout as sleep } from "node:timers/promises";
import { UserError } from "../../config/errors.js";
import { RegistryError } from "../errors.js";
import { RunSearchSyntaxError } from "./run-filter.js";
import { API_PREFIX, INTERNAL_ERROR_CODE, isRegistryErrorCode } from "../wire.js";

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

export type Method = "GET" | "POST" | "PUT" | "DELETE";
/** Query parameters; an array repeats its key (`metric=a&metric=b`). */
export type Query = Record<string, string | number | readonly string[] | undefined>;

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
export function segment(value: string, refuse: () => RegistryError | void): string {
  const text = String(value);
  if (text === "" || text === "." || text === "..") {
    throw refuse() ?? new RegistryError("INVALID_VALUE", `"${text}" cannot be sent in a URL path`);
  }
  return encodeURIComponent(text);
}

export const notFound = (what: string, id: string) => () =>
  new RegistryError("NOT_FOUND", `${what} "${id}" not found`);

/**
 * The connection to a registry server (`mldeploy registry-server`) that its tracking and
 * model-registry client stores share: the URL and token, JSON requests with retries of GETs,
 * and answers turned back into the RegistryError the server's store raised, with the same code
 * and message, so callers cannot tell a remote registry from a local one by its errors.
 */
export class RegistryHttpClient {
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

  /** Sends one API request (path relative to API_PREFIX) and returns the parsed answer. */
  async request<T>(
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
    const syntax = error === undefined ? undefined : syntaxErrorOf(error);
    if (syntax !== undefined) throw syntax;
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
    if (value === undefined) continue;
    if (typeof value === "object") for (const item of value) params.append(key, item);
    else params.set(key, String(value));
  }
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

interface ErrorFields {
  code: unknown;
  message: string;
  field?: unknown;
  position?: unknown;
}

/** A search syntax error (field and position in the body) as the local store raises it. */
function syntaxErrorOf(error: ErrorFields): RunSearchSyntaxError | undefined {
  const { field, position } = error;
  if (typeof field !== "string" || typeof position !== "number") return undefined;
  const suffix = ` at position ${position}`;
  const prefix = `${field}: `;
  if (!error.message.startsWith(prefix) || !error.message.endsWith(suffix)) return undefined;
  return new RunSearchSyntaxError(
    field,
    error.message.slice(prefix.length, -suffix.length),
    position,
  );
}

/** The `{ "error": { code, message } }` of an API error answer, if the text is one. */
function errorOf(text: string): ErrorFields | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const error = (
    parsed as {
      error?: { code?: unknown; message?: unknown; field?: unknown; position?: unknown };
    } | null
  )?.error;
  if (typeof error !== "object" || error === null || typeof error.message !== "string") {
    return undefined;
  }
  return { code: error.code, message: error.message, field: error.field, position: error.position };
}
