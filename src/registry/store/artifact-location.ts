import path from "node:path";
import { RegistryError } from "../errors.js";

// "s3://bucket/prefix", "file:///abs", "gs://…": joined with "/" whatever the OS.
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;

/**
 * A location as stored: URIs kept as given (without trailing "/"), plain paths made absolute
 * so that the stored value does not depend on the working directory of whoever reads it.
 */
export function normalizeArtifactLocation(location: string): string {
  if (typeof location !== "string" || location.trim() === "") {
    throw new RegistryError("INVALID_VALUE", "artifact location must be a non-empty string");
  }
  if (URI.test(location)) return location.replace(/\/+$/, "");
  return path.resolve(location);
}

/** Appends path segments to a location, in the location's own syntax. */
export function joinArtifactLocation(location: string, ...segments: string[]): string {
  if (URI.test(location)) return [location.replace(/\/+$/, ""), ...segments].join("/");
  return path.join(location, ...segments);
}

/** Where a new experiment's runs go when it was created without a location. */
export function experimentArtifactLocation(artifactRoot: string, experimentId: string): string {
  return joinArtifactLocation(artifactRoot, experimentId);
}

export function runArtifactUri(experimentLocation: string, runId: string): string {
  return joinArtifactLocation(experimentLocation, runId, "artifacts");
}
