/** The registry's JSON API (src/registry/server), as the pages call it. */

// The registry's own entity types, as its JSON API sends them (type-only: nothing of the
// server is bundled into the page).
import type { Experiment, Run } from "../../registry/store/types.js";
export type { Experiment, Run };

/** The most runs one list call returns (the store's cap). */
export const MAX_RUNS = 10_000;

/** The API refused the token (or none was sent): the page asks for one. */
export class TokenRequired extends Error {}
/** The API has no such thing: the page says so. */
export class NotFound extends Error {}

const TOKEN_KEY = "mldeploy.registryToken";

export function saveToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

/** The API's error body, kept whole: `field` names what was wrong with the request. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | undefined,
    readonly field: string | undefined,
  ) {
    super(message);
  }
}

/** The Authorization header for API calls (the token this tab was given, if any). */
export function authHeaders(): Record<string, string> {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** Calls the API; a 401 is TokenRequired, a 404 NotFound, any other failure an ApiError. */
export async function requestJson<T>(
  method: "GET" | "POST" | "PUT" | "DELETE",
  path: string,
  options: {
    query?: Record<string, string>;
    body?: unknown;
    headers?: Record<string, string>;
  } = {},
): Promise<T> {
  const search = new URLSearchParams(options.query ?? {}).toString();
  const headers: Record<string, string> = { ...options.headers, ...authHeaders() };
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`/api/v1${path}${search ? `?${search}` : ""}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const body = (await response.json().catch(() => undefined)) as
    { error?: { message?: string; code?: string; field?: string } } | undefined;
  const message = body?.error?.message ?? `${response.status} ${response.statusText}`;
  if (response.status === 401) throw new TokenRequired(message);
  if (response.status === 404) throw new NotFound(message);
  if (!response.ok) {
    throw new ApiError(message, response.status, body?.error?.code, body?.error?.field);
  }
  return body as T;
}

export function getJson<T>(path: string, query: Record<string, string> = {}): Promise<T> {
  return requestJson<T>("GET", path, { query });
}

export const getExperiment = (id: string) =>
  getJson<Experiment>(`/experiments/${encodeURIComponent(id)}`);
export const listRuns = (experimentId: string) =>
  getJson<Run[]>("/runs", { experimentId, limit: String(MAX_RUNS) });

/** Fired on `window` when this tab's token is set or forgotten (the header shows which). */
export const TOKEN_CHANGED = "mldeploy:token";

/** Whether this tab holds a token (it is sent with every API call). */
export function hasToken(): boolean {
  return sessionStorage.getItem(TOKEN_KEY) !== null;
}

/** Keeps `token` for this tab and tells the header. */
export function setToken(token: string): void {
  saveToken(token);
  window.dispatchEvent(new Event(TOKEN_CHANGED));
}

/** Drops this tab's token: API calls go without one (enough where reads are public). */
export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
  window.dispatchEvent(new Event(TOKEN_CHANGED));
}
