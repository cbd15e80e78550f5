/**
 * Artifact locations: a plain path, `file:///abs/path`, or `s3://bucket/key/prefix`.
 *
 * Locations and keys come from the registry (a model version's `source`, a run's artifact
 * URI) and from manifests written by other machines, so everything that is joined onto a root
 * is checked here: no `..` or `.` segments, no empty segments (an absolute key), no NUL, no
 * backslash (a separator on Windows). A joined key can therefore never leave its root.
 */
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { RegistryError } from "../errors.js";

export type ArtifactLocation =
  /** `path` is absolute. */
  | { kind: "local"; path: string }
  /** `key` is a prefix without leading or trailing slash; "" is the bucket root. */
  | { kind: "s3"; bucket: string; key: string };

/** S3 allows 1024 bytes of key; refusing longer ones here gives a clearer message than S3's. */
const MAX_S3_KEY_BYTES = 1024;
/** The DNS-compatible bucket naming rules of S3 (and MinIO, which enforces them). */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function invalid(message: string): RegistryError {
  return new RegistryError("INVALID_VALUE", message);
}

/**
 * Checks a relative key (`a/b/c.onnx`) and returns it unchanged. Refuses an empty key,
 * absolute keys (leading `/`), empty, `.` and `..` segments, backslashes and NUL.
 */
export function checkRelativeKey(key: string): string {
  const shown = JSON.stringify(key);
  if (key === "") throw invalid("artifact key is empty");
  if (key.includes("\0")) throw invalid(`artifact key ${shown} contains a NUL byte`);
  if (key.includes("\\")) throw invalid(`artifact key ${shown} contains a backslash`);
  if (key.startsWith("/")) throw invalid(`artifact key ${shown} is absolute; keys are relative`);
  for (const segment of key.split("/")) {
    if (segment === "" || segment === "." || segment === "..") {
      throw invalid(`artifact key ${shown} has an empty, "." or ".." segment (path traversal)`);
    }
  }
  return key;
}

/**
 * Parses an artifact location. A relative plain path is resolved against the working
 * directory, `..` included: it is what a user typed in a shell (`mldeploy serve ../models/x`)
 * and names a root, so nothing escapes anything. `file://` URIs and S3 keys are written by
 * programs, so a `.` or `..` segment there (also `%2e%2e`) is refused rather than normalized.
 * Keys joined onto a root go through checkRelativeKey (joinArtifactUri, localPathUnder).
 * S3 keys are taken literally (no percent-decoding), as S3 itself does.
 */
export function parseArtifactUri(uri: string): ArtifactLocation {
  if (uri.trim() === "") throw invalid("artifact location is empty");
  if (uri.includes("\0")) throw invalid(`artifact location ${JSON.stringify(uri)} contains NUL`);
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(uri)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: "local", path: path.resolve(uri) };
  if (scheme === "s3") return parseS3(uri);
  if (scheme === "file") return { kind: "local", path: parseFileUri(uri) };
  throw invalid(
    `unsupported artifact location ${JSON.stringify(uri)}: use a path, file:///abs/path or s3://bucket/prefix`,
  );
}

function parseS3(uri: string): ArtifactLocation {
  const rest = uri.slice("s3://".length);
  const slash = rest.indexOf("/");
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  let key = slash === -1 ? "" : rest.slice(slash + 1);
  if (!BUCKET_NAME.test(bucket)) {
    throw invalid(
      `invalid S3 bucket name ${JSON.stringify(bucket)} in ${JSON.stringify(uri)} ` +
        "(3-63 characters: lowercase letters, digits, dots and hyphens)",
    );
  }
  // One trailing slash marks a prefix ("s3://b/models/"); it is not an empty segment.
  if (key.endsWith("/")) key = key.slice(0, -1);
  if (key !== "") {
    checkRelativeKey(key);
    if (Buffer.byteLength(key) > MAX_S3_KEY_BYTES) {
      throw invalid(`S3 key in ${JSON.stringify(uri)} is longer than ${MAX_S3_KEY_BYTES} bytes`);
    }
  }
  return { kind: "s3", bucket, key };
}

function parseFileUri(uri: string): string {
  // Check before URL parsing: WHATWG URLs silently resolve `..` and `%2e%2e` segments away.
  const rawPath = uri.replace(/^file:\/\/[^/]*/i, "").replace(/[?#].*$/, "");
  for (const segment of rawPath.split("/")) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      throw invalid(`artifact location ${JSON.stringify(uri)} has invalid percent-encoding`);
    }
    if (decoded === "." || decoded === "..") {
      throw invalid(`artifact location ${JSON.stringify(uri)} has a "." or ".." segment`);
    }
    if (decoded.includes("\0")) throw invalid(`artifact location ${JSON.stringify(uri)} has NUL`);
  }
  try {
    return fileURLToPath(uri);
  } catch (error) {
    // e.g. file://otherhost/x, or an encoded "/" in a segment.
    throw invalid(`invalid file URI ${JSON.stringify(uri)}: ${(error as Error).message}`);
  }
}

/** The canonical text of a location: an absolute path, or `s3://bucket[/key]`. */
export function formatArtifactUri(location: ArtifactLocation): string {
  if (location.kind === "local") return location.path;
  return location.key === ""
    ? `s3://${location.bucket}`
    : `s3://${location.bucket}/${location.key}`;
}

/**
 * `root` + a relative key, in the root's own style (plain path, file URI or S3). The key is
 * checked with checkRelativeKey, so the result is always inside the root.
 */
export function joinArtifactUri(root: string, relativeKey: string): string {
  checkRelativeKey(relativeKey);
  const location = parseArtifactUri(root);
  if (location.kind === "s3") {
    const key = location.key === "" ? relativeKey : `${location.key}/${relativeKey}`;
    return formatArtifactUri({ kind: "s3", bucket: location.bucket, key });
  }
  const joined = localPathUnder(location.path, relativeKey);
  return /^file:\/\//i.test(root) ? pathToFileURL(joined).href : joined;
}

/** The local path of `relativeKey` under directory `root`, never outside it. */
export function localPathUnder(root: string, relativeKey: string): string {
  checkRelativeKey(relativeKey);
  const base = path.resolve(root);
  const joined = path.join(base, ...relativeKey.split("/"));
  // Belt and braces: the key check already makes escaping impossible.
  const relative = path.relative(base, joined);
  const escapes = relative === ".." || relative.startsWith(`..${path.sep}`);
  if (relative === "" || escapes || path.isAbsolute(relative)) {
    throw invalid(`artifact key ${JSON.stringify(relativeKey)} escapes ${base}`);
  }
  return joined;
}
