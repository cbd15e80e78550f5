import { createHash, timingSafeEqual } from "node:crypto";

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

// Comparing SHA-256 digests rather than the tokens: timingSafeEqual needs equal lengths, and
// comparing lengths first would tell an attacker how long the token is.
const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();

/**
 * Checks an `Authorization: Bearer <token>` header against `token` in constant time: "missing"
 * (no bearer token in it), "refused" (another token) or "ok".
 */
export function bearerChecker(
  token: string,
): (header: string | undefined) => "ok" | "missing" | "refused" {
  const expected = digest(token);
  return (header) => {
    const presented = header === undefined ? undefined : BEARER.exec(header)?.[1];
    if (presented === undefined) return "missing";
    return timingSafeEqual(digest(presented), expected) ? "ok" : "refused";
  };
}
