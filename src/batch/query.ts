import { UserError } from "../config/errors.js";

/**
 * Light validation of a custom query: one SELECT (or WITH … SELECT), at most one trailing `;`.
 * Not a parser: a `;` inside a string literal is refused too, which is the safe side.
 */
export function checkQuery(query: string): string {
  const trimmed = query.trim().replace(/;\s*$/, "").trim();
  if (!/^(select|with)\b/i.test(trimmed)) {
    throw new UserError("--query must be a SELECT (or WITH … SELECT) statement");
  }
  if (trimmed.includes(";")) {
    throw new UserError("--query must be a single SELECT statement: it contains ';'");
  }
  return trimmed;
}
