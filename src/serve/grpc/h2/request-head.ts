import type { HeaderField } from "./hpack.js";

/** Why a request's header list is malformed (RFC 9113 §8.1.1): a stream error, PROTOCOL_ERROR. */
export class MalformedRequest extends Error {}

/** Headers a request may not carry in HTTP/2 (§8.2.2): they belong to HTTP/1.1's connection. */
const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set([
  "connection",
  "proxy-connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
]);

/** A field name: lowercase token characters only (§8.2.1, RFC 9110 §5.6.2). */
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
/** What a field value may not hold: NUL, CR, LF anywhere, whitespace at either end (§8.2.1). */
const BAD_VALUE = /[\0\r\n]|^[ \t]|[ \t]$/;

/**
 * A request's header list, checked as RFC 9113 §8.3.1 requires of a server: the pseudo-header
 * fields first, each once, only those of a request, :method, :scheme and :path present; the
 * regular fields lowercase, without connection-specific ones, `te` only "trailers".
 */
export class RequestHead {
  readonly method: string;
  readonly path: string;
  readonly scheme: string;
  readonly authority: string | undefined;
  /** Regular fields in order (pseudo-header fields removed). */
  readonly fields: readonly HeaderField[];

  constructor(list: readonly HeaderField[]) {
    let method: string | undefined;
    let path: string | undefined;
    let scheme: string | undefined;
    let authority: string | undefined;
    let regular = 0;
    for (; regular < list.length; regular++) {
      const [name, value] = list[regular];
      if (name.charCodeAt(0) !== 0x3a /* : */) break;
      if (name === ":method" && method === undefined) method = value;
      else if (name === ":path" && path === undefined) path = value;
      else if (name === ":scheme" && scheme === undefined) scheme = value;
      else if (name === ":authority" && authority === undefined) authority = value;
      else throw new MalformedRequest(`the pseudo-header ${name} is repeated or not a request's`);
    }
    const fields = regular === 0 ? list : list.slice(regular);
    for (const [name, value] of fields) {
      if (!FIELD_NAME.test(name))
        throw new MalformedRequest(
          name.charCodeAt(0) === 0x3a
            ? `the pseudo-header ${name} follows a regular field`
            : `the field name "${name}" is not a lowercase token`,
        );
      if (BAD_VALUE.test(value)) throw new MalformedRequest(`the value of ${name} is malformed`);
      if (CONNECTION_SPECIFIC.has(name))
        throw new MalformedRequest(`the connection-specific field ${name} is not allowed`);
      if (name === "te" && value !== "trailers")
        throw new MalformedRequest(`te may only be "trailers"`);
    }
    if (method === undefined || scheme === undefined || path === undefined || path === "")
      throw new MalformedRequest("the request lacks :method, :scheme or :path");
    this.method = method;
    this.path = path;
    this.scheme = scheme;
    this.authority = authority;
    this.fields = fields;
  }

  /** The first value of a regular field (a repeated single-value field keeps its first, as node:http2). */
  get(name: string): string | undefined {
    const { fields } = this;
    for (let i = 0; i < fields.length; i++) if (fields[i][0] === name) return fields[i][1];
    return undefined;
  }
}
