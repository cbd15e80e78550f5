/** The registry API calls of the run's artifacts panel (src/registry/server/artifact-routes.ts). */
import type { ModelVersion, RegisteredModel } from "../../registry/store/types.js";
import { ApiError, authHeaders, getJson, NotFound, requestJson, TokenRequired } from "./api.js";

export type { ModelVersion, RegisteredModel };

// The shapes of the server's answers (artifact-routes.ts), restated here: the server modules
// they come from import Node's own modules, which the page's type-check does not know.

/** The first rows of a CSV or Parquet file. */
export interface TableHead {
  format: "csv" | "parquet";
  columns: string[];
  types: string[];
  rows: unknown[][];
  truncated: boolean;
  totalRows: number | null;
}

export interface ColumnSpec {
  name: string;
  type: string;
  required?: boolean;
  minimum?: number;
  maximum?: number;
}

/** A model directory among the run's artifacts. */
export interface RunModel {
  path: string;
  source: string;
  runId: string;
  onnx: boolean;
  signature: { inputs: ColumnSpec[]; outputs: ColumnSpec[] } | null;
  signatureJson: string | null;
  inputExample: unknown;
  servingInputExample: unknown;
}

import type { ArtifactFile } from "./artifact-tree.js";
export type { ArtifactFile };

export interface ArtifactList {
  artifactUri: string;
  path: string;
  files: ArtifactFile[];
  truncated: boolean;
}

const runPath = (runId: string) => `/runs/${encodeURIComponent(runId)}/artifacts`;

export const listArtifacts = (runId: string) => getJson<ArtifactList>(runPath(runId));

export const tableHead = (runId: string, path: string, rows = 100) =>
  getJson<TableHead>(`${runPath(runId)}/table`, { path, rows: String(rows) });

export const runModel = (runId: string, path: string) =>
  getJson<RunModel>(`${runPath(runId)}/model`, { path });

export const listModels = () => getJson<RegisteredModel[]>("/models");

/** Registers the model directory as the next version of `name`, as the CLI would. */
export const registerVersion = (name: string, model: RunModel) =>
  requestJson<ModelVersion>("POST", `/models/${encodeURIComponent(name)}/versions`, {
    body: {
      source: model.source,
      runId: model.runId,
      ...(model.signatureJson === null ? {} : { signature: model.signatureJson }),
    },
  });

/**
 * A file's bytes, with the token: `<img src>` and `<a href>` cannot send the Authorization
 * header, so the page fetches and hands the browser an object URL. `maxBytes` asks for the
 * head only (`truncated` says whether there is more).
 */
export async function fetchArtifact(
  runId: string,
  path: string,
  options: { maxBytes?: number; download?: boolean } = {},
): Promise<{ blob: Blob; truncated: boolean }> {
  const query = new URLSearchParams({ path });
  if (options.maxBytes !== undefined) query.set("maxBytes", String(options.maxBytes));
  if (options.download) query.set("download", "true");
  const response = await fetch(`/api/v1${runPath(runId)}/file?${query}`, {
    headers: authHeaders(),
  });
  if (!response.ok) {
    const body = (await response.json().catch(() => undefined)) as
      { error?: { message?: string; code?: string; field?: string } } | undefined;
    const message = body?.error?.message ?? `${response.status} ${response.statusText}`;
    if (response.status === 401) throw new TokenRequired(message);
    if (response.status === 404) throw new NotFound(message);
    throw new ApiError(message, response.status, body?.error?.code, body?.error?.field);
  }
  return {
    blob: await response.blob(),
    truncated: response.headers.get("x-artifact-truncated") === "true",
  };
}

/** Saves the file through an object URL (the download carries the token, a link could not). */
export async function downloadArtifact(runId: string, path: string): Promise<void> {
  const { blob } = await fetchArtifact(runId, path, { download: true });
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = path.split("/").pop() ?? "artifact";
  document.body.append(link);
  link.click();
  link.remove();
  // The click has handed the blob to the download; a moment later the URL can go.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
