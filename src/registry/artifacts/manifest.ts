/**
 * The manifest file: building it, writing it deterministically, and parsing one that may
 * have been written by another machine (or tampered with), so every entry is validated.
 */
import { RegistryError } from "../errors.js";
import type { ArtifactManifest, FileDigest } from "./types.js";
import { checkRelativeKey } from "./uri.js";

export const MANIFEST_FILE = ".mldeploy-manifest.json";

/** Refuse absurd manifests before parsing them into memory (a manifest of 100k files is ~15 MB). */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A manifest with entries sorted by path and digests copied (no stray properties). */
export function buildManifest(files: Iterable<readonly [string, FileDigest]>): ArtifactManifest {
  const sorted = [...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    format: 1,
    files: Object.fromEntries(sorted.map(([key, d]) => [key, { sha256: d.sha256, size: d.size }])),
  };
}

/** Sorted and pretty-printed, so the same directory always gives the same bytes. */
export function serializeManifest(manifest: ArtifactManifest): string {
  return JSON.stringify(buildManifest(Object.entries(manifest.files)), null, 2) + "\n";
}

/**
 * Parses manifest text. Anything malformed, including an entry that would escape the
 * directory (`../evil`), is ARTIFACT_CORRUPT: the stored artifact is wrong, not the caller.
 */
export function parseManifest(text: string, where: string): ArtifactManifest {
  const corrupt = (why: string, cause?: unknown) =>
    new RegistryError("ARTIFACT_CORRUPT", `manifest ${where} ${why}`, { cause });
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw corrupt("is not valid JSON", error);
  }
  if (!isObject(data) || data.format !== 1 || !isObject(data.files)) {
    throw corrupt('is not an mldeploy manifest (expected {"format": 1, "files": {...}})');
  }
  const entries: [string, FileDigest][] = [];
  for (const [key, value] of Object.entries(data.files)) {
    try {
      checkRelativeKey(key);
    } catch (error) {
      throw corrupt(`lists an unsafe path ${JSON.stringify(key)}`, error);
    }
    if (key === MANIFEST_FILE) throw corrupt(`lists itself as a file`);
    if (
      !isObject(value) ||
      typeof value.sha256 !== "string" ||
      !SHA256_HEX.test(value.sha256) ||
      !Number.isSafeInteger(value.size) ||
      (value.size as number) < 0
    ) {
      throw corrupt(`has an invalid entry for ${JSON.stringify(key)} (need sha256 hex and size)`);
    }
    entries.push([key, { sha256: value.sha256, size: value.size as number }]);
  }
  checkNoFileDirectoryClash(
    entries.map(([key]) => key),
    corrupt,
  );
  return buildManifest(entries);
}

/** `a` and `a/b` cannot both be files; refusing here beats an ENOTDIR halfway through. */
export function checkNoFileDirectoryClash(keys: string[], corrupt: (why: string) => Error): void {
  const files = new Set(keys);
  for (const key of keys) {
    const parts = key.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      if (files.has(parent)) {
        throw corrupt(`lists ${JSON.stringify(parent)} as both a file and a directory`);
      }
    }
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
