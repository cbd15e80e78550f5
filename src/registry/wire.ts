import type { RegistryErrorCode } from "./errors.js";

/**
 * What the registry server and its client (HttpStore) must agree on, kept free of Fastify and
 * zod so that the client does not load the server to talk to it.
 */

/** Every route of the API but /health lives under this prefix; a new major version gets /api/v2. */
export const API_PREFIX = "/api/v1";

/** Answered by the API in place of a RegistryError code when the server itself failed. */
export const INTERNAL_ERROR_CODE = "INTERNAL";

// A `satisfies Record<RegistryErrorCode, …>` makes adding a code to errors.ts without giving it a
// status here a compile error, so server and client never disagree on which codes exist.
const STATUS_BY_CODE = {
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  INVALID_NAME: 400,
  INVALID_VALUE: 400,
  INVALID_STATE: 409,
  UNAUTHORIZED: 401,
  ARTIFACT_CORRUPT: 422,
} as const satisfies Record<RegistryErrorCode, number>;

export const REGISTRY_ERROR_CODES = Object.keys(STATUS_BY_CODE) as RegistryErrorCode[];

export function httpStatusOf(code: RegistryErrorCode): number {
  return STATUS_BY_CODE[code];
}

export function isRegistryErrorCode(value: unknown): value is RegistryErrorCode {
  return typeof value === "string" && Object.hasOwn(STATUS_BY_CODE, value);
}

/** The body of every non-2xx answer. `field` names the offending request field, when one does. */
export interface ErrorBody {
  error: {
    code: RegistryErrorCode | typeof INTERNAL_ERROR_CODE;
    message: string;
    field?: string;
    /** Of a search syntax error: the 1-based character position in `field`. */
    position?: number;
  };
}
