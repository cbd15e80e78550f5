/**
 * Short descriptions of client values for error messages. A request body can be 16 MiB of
 * nesting 5,000 levels deep: JSON.stringify of it overflows the stack (a 500) or makes an
 * error message as large as the body. These walk only as much of a value as they print.
 */

const MAX_CHARS = 100;
const MAX_DEPTH = 3;

/** The text, cut to `max` characters with an ellipsis. */
export function clip(text: string, max = MAX_CHARS): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** JSON-like text of a value, at most 3 levels deep and about `max` characters. */
export function describeJson(value: unknown, max = MAX_CHARS): string {
  const out = { text: "" };
  write(value, 0, max, out);
  return clip(out.text, max);
}

function write(value: unknown, depth: number, max: number, out: { text: string }): void {
  if (out.text.length > max) return;
  if (typeof value === "string") {
    out.text += JSON.stringify(clip(value, max));
    return;
  }
  if (value === null || typeof value !== "object") {
    out.text += String(value);
    return;
  }
  const list = Array.isArray(value);
  if (depth >= MAX_DEPTH) {
    out.text += list ? "[…]" : "{…}";
    return;
  }
  out.text += list ? "[" : "{";
  const keys = list ? undefined : Object.keys(value);
  const count = keys ? keys.length : (value as unknown[]).length;
  for (let i = 0; i < count; i++) {
    if (out.text.length > max) {
      out.text += "…";
      break;
    }
    if (i > 0) out.text += ",";
    if (keys) out.text += `${JSON.stringify(clip(keys[i], max))}:`;
    const item = keys ? (value as Record<string, unknown>)[keys[i]] : (value as unknown[])[i];
    write(item, depth + 1, max, out);
  }
  out.text += list ? "]" : "}";
}
