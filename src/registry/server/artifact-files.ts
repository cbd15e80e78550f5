/**
 * Reading a run's artifacts for the web UI, through the artifact stores (local or S3): the
 * browser never reaches the disk or the bucket. Every path a client sends is relative to the
 * run's artifact root and checked like any key joined onto a root (no `..`, no absolute path);
 * a local file reached through a link out of the root is refused as well.
 */
import path from "node:path";
import type { Readable } from "node:stream";
import { RegistryError } from "../errors.js";
import { artifactStoreFor } from "../artifacts/open.js";
import { MANIFEST_FILE } from "../artifacts/manifest.js";
import { UnsafeFile } from "../artifacts/safe-files.js";
import type { ArtifactEntry, ArtifactStore } from "../artifacts/types.js";
import { checkRelativeKey, joinArtifactUri } from "../artifacts/uri.js";
import { UserError } from "../../config/errors.js";
import type { RegistryStore } from "../store/types.js";
import type { ServerRules } from "./route-spec.js";
import { RequestValidationError } from "./validation.js";

/** The most files one listing answers: a run with more is listed up to here, marked truncated. */
export const MAX_LISTED_FILES = 10_000;

/** A run's artifact root, and the store that holds it. */
export interface RunArtifacts {
  runId: string;
  /** As the run records it (`run.artifactUri`). */
  root: string;
  store: ArtifactStore;
}

/**
 * The artifacts of run `id` (NOT_FOUND when there is no such run). The server reads only under
 * its artifact roots, as it only lets clients point versions there: a run whose root lies
 * elsewhere (an experiment created straight in the database) is not read.
 */
export async function runArtifacts(
  store: RegistryStore,
  id: string,
  rules: ServerRules,
): Promise<RunArtifacts> {
  const run = await store.getRun(id);
  if (!rules.artifactRoots.allows(run.artifactUri)) {
    throw new RegistryError(
      "INVALID_VALUE",
      `run ${run.id} keeps its artifacts at ${run.artifactUri}, outside this server's artifact ` +
        `roots (${rules.artifactRoots.shown.join(", ")}): the server does not read there ` +
        "(start it with --allowed-artifact-roots to allow it)",
    );
  }
  return { runId: run.id, root: run.artifactUri, store: artifactStoreFor(run.artifactUri) };
}

/**
 * The query field `path` checked as a relative key (`model/MLmodel`); "" (or absent) is the
 * root itself when `rootAllowed`. A leading or trailing "/" is not part of a key.
 */
export function checkedPath(value: string | undefined, rootAllowed: boolean): string {
  const key = (value ?? "").replace(/\/+$/, "");
  if (key === "" && rootAllowed) return "";
  try {
    return checkRelativeKey(key);
  } catch (error) {
    if (!(error instanceof RegistryError)) throw error;
    throw new RequestValidationError(
      `invalid request query field "path": ${error.message}; name a file relative to the ` +
        "run's artifact root, e.g. model/MLmodel",
      "path",
    );
  }
}

/** The URI of `relative` under the run's root (the root itself for ""). */
export function uriOf(artifacts: RunArtifacts, relative: string): string {
  return relative === "" ? artifacts.root : joinArtifactUri(artifacts.root, relative);
}

/**
 * Every file under the run's root (or its directory `relative`), sorted, without the stores'
 * own manifests; at most MAX_LISTED_FILES.
 */
export async function listFiles(
  artifacts: RunArtifacts,
  relative: string,
): Promise<{ files: ArtifactEntry[]; truncated: boolean }> {
  let entries: ArtifactEntry[];
  try {
    entries = await artifacts.store.list(uriOf(artifacts, relative));
  } catch (error) {
    // A local root holding a link out of it, or a FIFO: named in the message, never followed.
    if (error instanceof UserError) {
      throw new RegistryError(
        "ARTIFACT_CORRUPT",
        `cannot list the run's artifacts: ${error.message}`,
      );
    }
    throw error;
  }
  const files = entries
    .filter((entry) => path.posix.basename(entry.path) !== MANIFEST_FILE)
    .map((entry) => ({
      path: relative === "" ? entry.path : `${relative}/${entry.path}`,
      size: entry.size,
    }));
  return {
    files: files.slice(0, MAX_LISTED_FILES),
    truncated: files.length > MAX_LISTED_FILES,
  };
}

/**
 * Opens the run's file `relative` as a stream. NOT_FOUND when there is none (or it is a
 * directory); a link leading out of the run's root is a 400 naming the field `path`.
 */
export async function openFile(artifacts: RunArtifacts, relative: string): Promise<Readable> {
  if (path.posix.basename(relative) === MANIFEST_FILE) {
    throw new RegistryError(
      "NOT_FOUND",
      `no artifact file "${relative}" in run ${artifacts.runId}`,
    );
  }
  try {
    return await artifacts.store.readFile(uriOf(artifacts, relative), artifacts.root);
  } catch (error) {
    if (error instanceof RegistryError && error.code === "NOT_FOUND") {
      throw new RegistryError(
        "NOT_FOUND",
        `no artifact file "${relative}" in run ${artifacts.runId}`,
      );
    }
    const cause = error instanceof Error ? error.cause : undefined;
    if (cause instanceof UnsafeFile && cause.kind === "outside") {
      throw new RequestValidationError(
        `invalid request query field "path": "${relative}" is a symbolic link that leads out ` +
          "of the run's artifact root; it is not read",
        "path",
      );
    }
    throw error;
  }
}

/** The first `maxBytes` bytes of a stream, and whether there were more (the rest is not read). */
export async function readHead(
  stream: Readable,
  maxBytes: number,
): Promise<{ bytes: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let total = 0;
  let truncated = false;
  try {
    for await (const chunk of stream) {
      const bytes = chunk as Buffer;
      if (total + bytes.length > maxBytes) {
        chunks.push(bytes.subarray(0, maxBytes - total));
        total = maxBytes;
        truncated = true;
        break;
      }
      chunks.push(bytes);
      total += bytes.length;
    }
  } finally {
    // Stops the read (an S3 body's socket, a file handle) once enough has arrived.
    stream.destroy();
  }
  return { bytes: Buffer.concat(chunks, total), truncated };
}

const TEXT = "text/plain; charset=utf-8";

/** Media types by extension; anything else is octet-stream (and HTML is shown as text, never run). */
const MEDIA_TYPES: Record<string, string> = {
  json: "application/json; charset=utf-8",
  csv: "text/csv; charset=utf-8",
  tsv: "text/tab-separated-values; charset=utf-8",
  parquet: "application/vnd.apache.parquet",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  svg: "image/svg+xml",
  pdf: "application/pdf",
};
const TEXT_EXTENSIONS = new Set(
  "txt log md rst yaml yml toml ini cfg conf py r sql sh ts js html htm xml ipynb env".split(" "),
);
/** Text files MLflow and mldeploy write without an extension. */
const TEXT_NAMES = new Set(["MLmodel", "requirements.txt", "LICENSE", "README"]);

export function mediaTypeOf(relative: string): string {
  const name = path.posix.basename(relative);
  if (TEXT_NAMES.has(name)) return TEXT;
  const extension = path.posix.extname(name).slice(1).toLowerCase();
  return (
    MEDIA_TYPES[extension] ?? (TEXT_EXTENSIONS.has(extension) ? TEXT : "application/octet-stream")
  );
}

/**
 * Headers of a file answer. The file is the run author's, not the server's: it must never run
 * as a page of the registry's origin (an HTML or SVG file opened straight from the API), so the
 * type is not sniffed and a sandboxing CSP applies to whatever a browser does with it.
 */
export function fileHeaders(
  relative: string,
  options: { download: boolean; truncated?: boolean },
): Record<string, string> {
  const name = path.posix.basename(relative);
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, "_");
  const headers: Record<string, string> = {
    "content-type": mediaTypeOf(relative),
    "content-disposition":
      `${options.download ? "attachment" : "inline"}; filename="${ascii}"; ` +
      `filename*=UTF-8''${encodeURIComponent(name)}`,
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; sandbox",
    "cache-control": "private, no-store",
  };
  if (options.truncated !== undefined) {
    headers["x-artifact-truncated"] = String(options.truncated);
  }
  return headers;
}
