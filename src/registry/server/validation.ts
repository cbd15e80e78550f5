import type { z } from "zod";

const MAX_SHOWN_INPUT = 60;

/** The part of a request a value comes from. */
export type RequestPart = "path" | "query" | "body" | "header";

/**
 * A request whose path, query or body does not have the documented shape, or holds a value
 * this server refuses (e.g. an artifact location outside its roots): answered 400.
 */
export class RequestValidationError extends Error {
  constructor(
    message: string,
    /** Dotted path of the first bad field (`metrics.0.value`), or the part of the request. */
    readonly field: string,
  ) {
    super(message);
    this.name = "RequestValidationError";
  }

  /** From zod's issues: names the first one's field and shows the value (briefly). */
  static fromIssues(
    where: RequestPart,
    issues: readonly z.core.$ZodIssue[],
  ): RequestValidationError {
    const first = issues[0];
    const field = first ? fieldOf(first) : "";
    const subject = field === "" ? where : `${where} field "${field}"`;
    // A header may hold a secret (a token): its value is never repeated back.
    const detail = first ? describeIssue(first, where !== "header") : "invalid";
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more problems)` : "";
    return new RequestValidationError(
      `invalid request ${subject}: ${detail}${more}`,
      field === "" ? where : field,
    );
  }
}

function fieldOf(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String);
  // An unknown key is reported on its parent object; the key itself is the field at fault.
  if (issue.code === "unrecognized_keys" && issue.keys.length > 0) path.push(issue.keys[0]);
  return path.join(".");
}

function describeIssue(issue: z.core.$ZodIssue, showValue: boolean): string {
  if (issue.code === "unrecognized_keys") {
    return `unknown field${issue.keys.length > 1 ? `s ${issue.keys.join(", ")}` : ""}`;
  }
  const message = issue.message.replace(/^Invalid input: /, "");
  // Without the value, "expected one of …" leaves the caller guessing what they sent.
  if (issue.input === undefined || !showValue) return message;
  return `${message} (got ${describeValue(issue.input)})`;
}

const MAX_SHOWN_DEPTH = 3;
const MAX_SHOWN_ITEMS = 5;

/**
 * A short JSON-like text of a client's value. Never JSON.stringify: the value is untrusted, and
 * 5,000 nested arrays overflow the stack (a 500 instead of the 400). Bounded in depth, items per
 * level and length, so the work done is bounded too whatever the value's size.
 */
export function describeValue(value: unknown, maxLength = MAX_SHOWN_INPUT): string {
  const shown = describe(value, MAX_SHOWN_DEPTH, maxLength + 1);
  return shown.length > maxLength ? `${shown.slice(0, maxLength)}…` : shown;
}

function describe(value: unknown, depth: number, budget: number): string {
  if (typeof value === "string") {
    return JSON.stringify(value.length > budget ? value.slice(0, budget) : value);
  }
  if (value === null || typeof value !== "object") {
    return typeof value === "bigint" ? `${value}n` : String(value);
  }
  const isArray = Array.isArray(value);
  const [open, close] = isArray ? ["[", "]"] : ["{", "}"];
  if (depth === 0) return `${open}…${close}`;
  const keys = isArray ? [] : Object.keys(value).slice(0, MAX_SHOWN_ITEMS + 1);
  const count = isArray ? value.length : keys.length;
  const parts: string[] = [];
  let used = 2;
  for (let i = 0; i < Math.min(count, MAX_SHOWN_ITEMS) && used < budget; i++) {
    const item = isArray
      ? describe(value[i], depth - 1, budget - used)
      : `${JSON.stringify(keys[i].slice(0, budget))}:${describe(
          (value as Record<string, unknown>)[keys[i]],
          depth - 1,
          budget - used,
        )}`;
    parts.push(item);
    used += item.length + 1;
  }
  if (parts.length < count) parts.push("…");
  return `${open}${parts.join(",")}${close}`;
}
