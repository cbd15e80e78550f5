import type { z } from "zod";

const MAX_SHOWN_INPUT = 60;

/** A request whose path, query or body does not have the documented shape: answered 400. */
export class RequestValidationError extends Error {
  /** Dotted path of the first bad field (`metrics.0.value`), or the part of the request. */
  readonly field: string;

  constructor(where: "path" | "query" | "body", issues: readonly z.core.$ZodIssue[]) {
    const first = issues[0];
    const field = first ? fieldOf(first) : "";
    const subject = field === "" ? where : `${where} field "${field}"`;
    const detail = first ? describeIssue(first) : "invalid";
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more problems)` : "";
    super(`invalid request ${subject}: ${detail}${more}`);
    this.name = "RequestValidationError";
    this.field = field === "" ? where : field;
  }
}

function fieldOf(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String);
  // An unknown key is reported on its parent object; the key itself is the field at fault.
  if (issue.code === "unrecognized_keys" && issue.keys.length > 0) path.push(issue.keys[0]);
  return path.join(".");
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") {
    return `unknown field${issue.keys.length > 1 ? `s ${issue.keys.join(", ")}` : ""}`;
  }
  const message = issue.message.replace(/^Invalid input: /, "");
  // Without the value, "expected one of …" leaves the caller guessing what they sent.
  if (issue.input === undefined) return message;
  let shown = JSON.stringify(issue.input) ?? String(issue.input);
  if (shown.length > MAX_SHOWN_INPUT) shown = `${shown.slice(0, MAX_SHOWN_INPUT)}…`;
  return `${message} (got ${shown})`;
}
