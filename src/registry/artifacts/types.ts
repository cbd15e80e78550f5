/**
 * The artifact store contract: directories of model files (an MLflow-style bundle: MLmodel,
 * model.onnx …) kept on local disk or in S3, with a manifest of checksums so that a download
 * can prove it got exactly what was uploaded.
 */

import type { Readable } from "node:stream";

/** What a file's content is: its SHA-256 (lowercase hex) and its length in bytes. */
export interface FileDigest {
  sha256: string;
  size: number;
}

/**
 * The manifest written as `.mldeploy-manifest.json` at the root of an uploaded directory,
 * after every file: its presence means the upload finished.
 */
export interface ArtifactManifest {
  /** Manifest format version, for future changes. */
  format: 1;
  /** Relative POSIX path (`sub/weights.bin`) → digest. The manifest itself is not listed. */
  files: Record<string, FileDigest>;
}

/** One stored object under a prefix. */
export interface ArtifactEntry {
  /** Path relative to the listed prefix, with `/` separators. */
  path: string;
  size: number;
}

export interface ArtifactStore {
  readonly kind: "local" | "s3";

  /**
   * Uploads every file under `localDir` to `destUri`, then the manifest. An existing manifest
   * at `destUri` is removed first, so an interrupted overwrite is not vouched for by the old one.
   */
  uploadDirectory(localDir: string, destUri: string): Promise<ArtifactManifest>;

  /**
   * Downloads the files listed in the manifest at `srcUri` into `localDir` (created if
   * needed; same-named files are replaced), verifying each file's size and SHA-256, then
   * writes the manifest there too. Files in the store that the manifest does not list are
   * not downloaded. A bad or missing file → RegistryError ARTIFACT_CORRUPT naming it; no
   * manifest → ARTIFACT_CORRUPT (or NOT_FOUND when nothing at all is stored there).
   */
  downloadDirectory(srcUri: string, localDir: string): Promise<ArtifactManifest>;

  /** Streams one file to `destUri`, hashing on the way; returns what was written. */
  uploadFile(localPath: string, destUri: string): Promise<FileDigest>;

  /**
   * Streams one object to `localPath` (via a temporary sibling, renamed into place only when
   * complete and, if `expected` is given, verified). Missing → RegistryError NOT_FOUND.
   */
  downloadFile(srcUri: string, localPath: string, expected?: FileDigest): Promise<FileDigest>;

  /**
   * Streams one stored file that lies under the directory (or prefix) `root`: a local file
   * reached through a link out of `root` is refused (ARTIFACT_CORRUPT, caused by an UnsafeFile
   * "outside"). Missing → RegistryError NOT_FOUND.
   */
  readFile(uri: string, root: string): Promise<Readable>;

  /** Reads and validates the manifest of a directory upload. */
  readManifest(uri: string): Promise<ArtifactManifest>;

  /** Every object under `prefixUri` (recursively), sorted by path; [] when there are none. */
  list(prefixUri: string): Promise<ArtifactEntry[]>;

  /** Whether `uri` is a stored file, or a directory/prefix holding at least one object. */
  exists(uri: string): Promise<boolean>;
}
