/**
 * Building HTML from strings that come from data (model names, column names, categories, file
 * paths) without ever pasting one in unescaped: the `markup` tag escapes every interpolated
 * value unless it is already a `SafeHtml` built by this module.
 *
 * (The tag is not called `html` on purpose: prettier reformats templates of that name as HTML
 * documents, closing the fragments' open elements and changing what they render.)
 */

/** Markup known to be safe: produced by `markup` or `raw` (for constant markup only). */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** What a `markup` template accepts: text (escaped), numbers, safe markup, lists, or nothing. */
export type HtmlValue =
  SafeHtml | string | number | null | undefined | false | readonly HtmlValue[];

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * Text and attribute values safe in HTML and inline SVG. C0 controls other than tab, newline
 * and carriage return become U+FFFD: HTML forbids them and a NUL would otherwise be dropped
 * silently by the parser, changing what the reader sees.
 */
export function escapeHtml(text: string): string {
  return text
    .replace(/[&<>"']/g, (c) => ESCAPES[c])
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, "\ufffd"); // eslint-disable-line no-control-regex
}

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join("");
  if (typeof value === "number") return escapeHtml(String(value));
  return escapeHtml(value as string);
}

const compacted = new WeakMap<TemplateStringsArray, string[]>();

/**
 * The literal parts of a template, laid out over lines for people, with each line break and
 * its indentation folded to one space: what HTML renders them as anyway (the report uses no
 * preformatted text), without the indentation's bytes in every report.
 */
function compact(strings: TemplateStringsArray): string[] {
  let parts = compacted.get(strings);
  if (!parts) {
    parts = strings.map((s) => s.replace(/[ \t]*\n\s*/g, " "));
    compacted.set(strings, parts);
  }
  return parts;
}

/** Tagged template: the literal parts are markup, every `${value}` is escaped text. */
export function markup(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  const parts = compact(strings);
  let out = parts[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + parts[i + 1];
  return new SafeHtml(out);
}

/** Constant markup written in this module's code (never data). */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup);
}

/** Joins pieces of markup with an optional (constant) separator. */
export function join(parts: readonly HtmlValue[], separator = ""): SafeHtml {
  return new SafeHtml(parts.map(render).join(separator));
}
