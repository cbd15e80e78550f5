import { createHash, timingSafeEqual } from "node:crypto";
import { RegistryError } from "../errors.js";

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

// Comparing SHA-256 digests rather than the tokens: timingSafeEqual needs equal lengths, and
// comparing lengths first would tell an attacker how long the token is.
const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();

/**
 * Checks `Authorization: Bearer <token>` in constant time. Returns the error to answer with,
 * or undefined when the header carries the expected token.
 */
export function bearerChecker(
  token: string,
): (header: string | undefined) => RegistryError | undefined {
  const expected = digest(token);
  return (header) => {
    const presented = header === undefined ? undefined : BEARER.exec(header)?.[1];
    if (presented === undefined) {
      return new RegistryError(
        "UNAUTHORIZED",
        "this registry server requires a token: send Authorization: Bearer <token> " +
          "(mldeploy sends MLDEPLOY_REGISTRY_TOKEN)",
      );
    }
    if (!timingSafeEqual(digest(presented), expected)) {
      return new RegistryError(
        "UNAUTHORIZED",
        "the bearer token was refused: check MLDEPLOY_REGISTRY_TOKEN",
      );
    }
    return undefined;
  };
}
