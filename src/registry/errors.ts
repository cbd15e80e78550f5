import { UserError } from "../config/errors.js";

/** Error codes shared by every store and carried over HTTP by registry-server. */
export type RegistryErrorCode =
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "INVALID_NAME"
  | "INVALID_VALUE"
  | "INVALID_STATE"
  | "UNAUTHORIZED"
  | "ARTIFACT_CORRUPT";

/** A registry mistake the user can fix (unknown name, duplicate, bad name, broken artifact). */
export class RegistryError extends UserError {
  constructor(
    readonly code: RegistryErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "RegistryError";
  }
}
