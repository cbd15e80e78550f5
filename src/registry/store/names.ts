import { RegistryError } from "../errors.js";

/**
 * What names and values a store accepts. Every store (and registry-server) applies these
 * same rules before touching storage, so a name valid on SQLite is valid on PostgreSQL.
 */

export const LIMITS = {
  experimentName: 256,
  runName: 256,
  modelName: 256,
  alias: 256,
  key: 250,
  paramValue: 6000,
  tagValue: 8000,
  description: 65_536,
} as const;

// Model names and aliases appear in URIs (`models:/<name>@<alias>`, `/v2/models/{name}`) and
// in file paths, so they are restricted to characters that need no escaping anywhere.
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
// MLflow's rule for param, metric and tag keys.
const KEY = /^[A-Za-z0-9_.\- /:]+$/;
const VERSION_ALIAS = /^v\d+$/i;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function invalidName(field: string, value: unknown, why: string): RegistryError {
  return new RegistryError("INVALID_NAME", `invalid ${field} ${JSON.stringify(value)}: ${why}`);
}

function requireString(field: string, value: unknown): string {
  if (typeof value !== "string") throw invalidName(field, value, "must be a string");
  return value;
}

function checkLength(field: string, value: string, max: number): void {
  if (value.length === 0) throw invalidName(field, value, "must not be empty");
  if (value.length > max) throw invalidName(field, value, `longer than ${max} characters`);
}

/** Free text shown to people: anything printable, without surrounding whitespace. */
function validateLabel(field: string, value: unknown, max: number): string {
  const text = requireString(field, value);
  checkLength(field, text, max);
  if (CONTROL.test(text)) throw invalidName(field, text, "contains a control character");
  if (text.trim() !== text) throw invalidName(field, text, "starts or ends with whitespace");
  return text;
}

export function validateExperimentName(name: unknown): string {
  return validateLabel("experiment name", name, LIMITS.experimentName);
}

export function validateRunName(name: unknown): string {
  return validateLabel("run name", name, LIMITS.runName);
}

function validateIdentifier(field: string, value: unknown, max: number): string {
  const text = requireString(field, value);
  checkLength(field, text, max);
  if (!MODEL_NAME.test(text)) {
    throw invalidName(
      field,
      text,
      "use letters, digits, '_', '-' and '.', starting with a letter or digit",
    );
  }
  return text;
}

export function validateModelName(name: unknown): string {
  return validateIdentifier("model name", name, LIMITS.modelName);
}

/** As MLflow: "latest" and "v<digits>" would be ambiguous with version references. */
export function validateAlias(alias: unknown): string {
  const text = validateIdentifier("alias", alias, LIMITS.alias);
  if (text.toLowerCase() === "latest" || VERSION_ALIAS.test(text)) {
    throw invalidName("alias", text, "reserved ('latest' and 'v<number>' refer to versions)");
  }
  return text;
}

/**
 * Param, metric and tag keys (MLflow's rule): keys may look like paths ("eval/rmse") but must
 * be normalized ones, so no "..", "." or empty segment and no leading "/" — artifact stores
 * and exporters may turn them into file names.
 */
export function validateKey(kind: "param" | "metric" | "tag", key: unknown): string {
  const field = `${kind} key`;
  const text = requireString(field, key);
  checkLength(field, text, LIMITS.key);
  if (!KEY.test(text)) {
    throw invalidName(field, text, "use letters, digits, '_', '-', '.', ' ', ':' and '/'");
  }
  for (const segment of text.split("/")) {
    if (segment === "" || segment === "." || segment === "..") {
      throw invalidName(field, text, "must be a normalized path (no '..', '.', '//', leading '/')");
    }
  }
  return text;
}

function invalidValue(message: string): RegistryError {
  return new RegistryError("INVALID_VALUE", message);
}

export function validateParamValue(key: string, value: unknown): string {
  if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
    throw invalidValue(`param "${key}" must be a string, number or boolean`);
  }
  const text = String(value);
  if (text.length > LIMITS.paramValue) {
    throw invalidValue(
      `param "${key}" value is ${text.length} characters; the limit is ${LIMITS.paramValue}`,
    );
  }
  return text;
}

export function validateTagValue(key: string, value: unknown): string {
  if (typeof value !== "string") throw invalidValue(`tag "${key}" value must be a string`);
  if (value.length > LIMITS.tagValue) {
    throw invalidValue(
      `tag "${key}" value is ${value.length} characters; the limit is ${LIMITS.tagValue}`,
    );
  }
  return value;
}

/** NaN and infinities are refused: SQLite cannot store NaN and JSON cannot carry either. */
export function validateMetricValue(key: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw invalidValue(`metric "${key}" value must be a finite number, got ${String(value)}`);
  }
  return value;
}

/** Steps, timestamps and versions are integers stored as 64-bit columns. */
export function validateInteger(what: string, value: unknown, min: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw invalidValue(`${what} must be an integer ≥ ${min}, got ${String(value)}`);
  }
  return value;
}

export function validateVersion(version: unknown): number {
  return validateInteger("model version", version, 1);
}

export function validateDescription(description: unknown): string {
  if (typeof description !== "string") throw invalidValue("description must be a string");
  if (description.length > LIMITS.description) {
    throw invalidValue(`description is longer than ${LIMITS.description} characters`);
  }
  return description;
}

/** Tags as a whole: every key and value checked, returned as a plain copy. */
export function validateTags(tags: unknown): Record<string, string> {
  if (tags === undefined) return {};
  if (typeof tags !== "object" || tags === null || Array.isArray(tags)) {
    throw invalidValue("tags must be an object of string values");
  }
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(tags)) {
    out[validateKey("tag", key)] = validateTagValue(key, value);
  }
  return out;
}

export function requireId(kind: string, id: unknown): string {
  if (typeof id !== "string") throw invalidValue(`${kind} id must be a string`);
  return id;
}

export function validateSource(source: unknown): string {
  if (typeof source !== "string" || source.trim() === "") {
    throw invalidValue("model version source must be a non-empty string");
  }
  return source;
}

/** The bundle's MLflow signature, kept as text but refused unless it parses. */
export function validateSignature(signature: unknown): string {
  if (typeof signature !== "string") {
    throw invalidValue("model version signature must be JSON text");
  }
  try {
    JSON.parse(signature);
  } catch {
    throw invalidValue("model version signature is not valid JSON");
  }
  return signature;
}
