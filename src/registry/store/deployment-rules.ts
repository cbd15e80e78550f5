import { RegistryError } from "../errors.js";
import { parseModelUri } from "../model-uri.js";
import { DEPLOYMENT_MODES, type DeploymentHeartbeat } from "./types.js";

/**
 * What a heartbeat must hold, checked by every store before it is written (as names.ts for the
 * other entities), so that SQLite, PostgreSQL and registry-server refuse the same beats.
 */

/** A deployment counts as stopped after this many intervals without a beat. */
export const STALE_AFTER_INTERVALS = 3;
/** A stopped deployment's row is deleted once it has been stale this long. */
export const DELETE_STALE_AFTER_MS = 3_600_000;
export const MAX_HEARTBEAT_INTERVAL_MS = 86_400_000;

const HEX32 = /^[0-9a-f]{32}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function invalid(field: string, why: string): RegistryError {
  return new RegistryError("INVALID_VALUE", `deployment ${field} ${why}`);
}

export function validateDeploymentId(id: unknown): string {
  if (typeof id !== "string" || !HEX32.test(id)) {
    throw invalid("id", `must be 32 lowercase hex characters, got ${JSON.stringify(id)}`);
  }
  return id;
}

function text(field: string, value: unknown, max: number): string {
  if (typeof value !== "string" || value === "") throw invalid(field, "must be a non-empty string");
  if (value.length > max) throw invalid(field, `is longer than ${max} characters`);
  if (CONTROL.test(value)) throw invalid(field, "contains a control character");
  return value;
}

function optionalText(field: string, value: unknown, max: number): string | null {
  return value === null ? null : text(field, value, max);
}

function integer(field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(field, `must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

/** The heartbeat as the store writes it (a plain copy with only the known fields). */
export function validateHeartbeat(beat: DeploymentHeartbeat): DeploymentHeartbeat {
  if (typeof beat !== "object" || beat === null) throw invalid("heartbeat", "must be an object");
  if (!DEPLOYMENT_MODES.includes(beat.mode)) {
    throw invalid(
      "mode",
      `must be one of ${DEPLOYMENT_MODES.join(", ")}, got ${String(beat.mode)}`,
    );
  }
  if (typeof beat.rate !== "number" || !Number.isFinite(beat.rate) || beat.rate < 0) {
    throw invalid("rate", `must be a finite number ≥ 0, got ${String(beat.rate)}`);
  }
  return {
    id: validateDeploymentId(beat.id),
    mode: beat.mode,
    host: text("host", beat.host, 256),
    pid: integer("pid", beat.pid, 0, 2 ** 32),
    endpoint: text("endpoint", beat.endpoint, 2048),
    modelUri: text("modelUri", beat.modelUri, 2048),
    modelName: optionalText("modelName", beat.modelName, 256),
    modelVersion: optionalText("modelVersion", beat.modelVersion, 256),
    versionSince: integer("versionSince", beat.versionSince, 0, Number.MAX_SAFE_INTEGER),
    startedAt: integer("startedAt", beat.startedAt, 0, Number.MAX_SAFE_INTEGER),
    rate: beat.rate,
    intervalMs: integer("intervalMs", beat.intervalMs, 1, MAX_HEARTBEAT_INTERVAL_MS),
  };
}

/**
 * What a model URI follows: the alias of `models:/name@alias`, "latest" for
 * `models:/name/latest` ("latest" cannot be an alias's name), null for anything fixed.
 */
export function followedBy(modelUri: string): { name: string; follows: string } | null {
  try {
    const parsed = parseModelUri(modelUri);
    if (parsed.kind === "alias") return { name: parsed.name, follows: parsed.alias };
    if (parsed.kind === "latest") return { name: parsed.name, follows: "latest" };
  } catch {
    // A URI the registry cannot parse follows nothing it knows of.
  }
  return null;
}

/** A deployment lags when it follows something and does not run what that points at now. */
export function isLagging(modelVersion: string | null, targetVersion: number | null): boolean {
  return targetVersion !== null && modelVersion !== String(targetVersion);
}
