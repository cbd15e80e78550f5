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

export async function getJson<T>(path: string, query: Record<string, string> = {}): Promise<T> {
  const search = new URLSearchParams(query).toString();
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(`/api/v1${path}${search ? `?${search}` : ""}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  const body = (await response.json().catch(() => undefined)) as
    { error?: { message?: string } } | undefined;
  const message = body?.error?.message ?? `${response.status} ${response.statusText}`;
  if (response.status === 401) throw new TokenRequired(message);
  if (response.status === 404) throw new NotFound(message);
  if (!response.ok) throw new Error(message);
  return body as T;
}

export const listExperiments = () => getJson<Experiment[]>("/experiments");
export const getExperiment = (id: string) =>
  getJson<Experiment>(`/experiments/${encodeURIComponent(id)}`);
export const listRuns = (experimentId: string) =>
  getJson<Run[]>("/runs", { experimentId, limit: String(MAX_RUNS) });
