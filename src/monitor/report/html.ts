/**
 * Building HTML from strings that come from data (model names, column names, categories, file
 * paths) without ever pasting one in unescaped: the `html` tag escapes every interpolated
 * value unless it is already a `SafeHtml` built by this module.
 */

/** Markup known to be safe: produced by `html` or `raw` (for constant markup only). */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** What an `html` template accepts: text (escaped), numbers, safe markup, lists, or nothing. */
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

/** Tagged template: the literal parts are markup, every `${value}` is escaped text. */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1];
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
