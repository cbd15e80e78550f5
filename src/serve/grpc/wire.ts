import { gunzip, inflate } from "node:zlib";
import { status as Status } from "@grpc/grpc-js";

/**
 * The gRPC wire format over HTTP/2 (grpc/grpc doc/PROTOCOL-HTTP2.md), for a unary call:
 * a request is one length-prefixed message (1 byte compressed flag, 4 bytes big-endian length,
 * the message), metadata are HTTP/2 headers, the status is the `grpc-status` and
 * `grpc-message` trailers.
 */

/** A call's failure: a gRPC status and its details (the message the client reads). */
export interface CallError {
  code: Status;
  details: string;
}

/** The compressions a request may come in (as grpc-js and grpc core accept). */
export const ACCEPT_ENCODING = "identity,deflate,gzip";

/** A message on the wire: not compressed (0), its length, itself (one buffer, one DATA write). */
export function framed(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

/**
 * `grpc-message`: percent-encoded UTF-8 (the spec allows only printable ASCII but '%' raw,
 * and an HTTP/2 header value may not hold a newline or a non-ASCII character).
 */
export function encodeGrpcMessage(text: string): string {
  if (/^[\x20-\x24\x26-\x7e]*$/.test(text)) return text;
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

const TIMEOUT = /^(\d{1,8})([HMSmun])$/;
const UNIT_MS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000001,
};

/** `grpc-timeout` in ms; a CallError (INTERNAL, as grpc-js answers) for a malformed value. */
export function parseTimeout(value: string): number | CallError {
  const match = TIMEOUT.exec(value);
  if (!match) return { code: Status.INTERNAL, details: `Invalid grpc-timeout value "${value}"` };
  return Number(match[1]) * UNIT_MS[match[2]];
}

/**
 * Collects the one message of a unary request from the stream's DATA chunks, holding at most
 * 5 + maxBytes bytes: a length prefix over the limit is refused as soon as it is read (the
 * rest of the body is then dropped, not buffered).
 */
export class UnaryMessageReader {
  private readonly chunks: Buffer[] = [];
  private received = 0;
  /** The whole frame's length (5 + the message's), once the prefix is read. */
  private expected = -1;

  constructor(private readonly maxBytes: number) {}

  /** Takes a chunk; a CallError once the request cannot be a single message within the limit. */
  push(chunk: Buffer): CallError | undefined {
    this.chunks.push(chunk);
    this.received += chunk.length;
    if (this.expected < 0 && this.received >= 5) {
      const head = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks);
      const length = head.readUInt32BE(1);
      if (length > this.maxBytes) {
        this.chunks.length = 0;
        return {
          code: Status.RESOURCE_EXHAUSTED,
          details: `Received message larger than max (${length} vs. ${this.maxBytes})`,
        };
      }
      this.expected = 5 + length;
    }
    if (this.expected >= 0 && this.received > this.expected) {
      this.chunks.length = 0;
      // A second message on a unary method: a cardinality violation (grpc core's status).
      return { code: Status.UNIMPLEMENTED, details: "received more than one request message" };
    }
    return undefined;
  }

  /**
   * The request ended and holds exactly one uncompressed message: that message, without a
   * promise (the common case); undefined for anything else, which finish() then answers.
   */
  message(): Buffer | undefined {
    if (this.received < 5 || this.received !== this.expected) return undefined;
    const frame = this.chunks.length === 1 ? this.chunks[0] : undefined;
    if (frame === undefined || frame[0] !== 0) return undefined;
    this.chunks.length = 0;
    return frame.subarray(5);
  }

  /**
   * The request ended: its message (decompressed per `encoding`), or the CallError of a body
   * that is not exactly one whole message.
   */
  async finish(encoding: string): Promise<Buffer | CallError> {
    if (this.received === 0)
      return { code: Status.UNIMPLEMENTED, details: "received no request message" };
    if (this.received < 5 || this.received !== this.expected)
      return {
        code: Status.INTERNAL,
        details: `the request ended inside a message (${this.received} of ${this.expected < 0 ? "at least 5" : this.expected} bytes)`,
      };
    const frame = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    this.chunks.length = 0;
    const flag = frame[0];
    const message = frame.subarray(5);
    if (flag === 0) return message;
    if (flag !== 1)
      return { code: Status.INTERNAL, details: `invalid message flag ${flag} (0 or 1 expected)` };
    if (encoding !== "gzip" && encoding !== "deflate")
      return {
        code: Status.INTERNAL,
        details: `the message is flagged compressed but grpc-encoding is "${encoding}"`,
      };
    return new Promise((resolve) => {
      // maxOutputLength bounds the inflated size (a zip bomb fails, it does not fill memory).
      (encoding === "gzip" ? gunzip : inflate)(
        message,
        { maxOutputLength: Math.max(1, this.maxBytes) },
        (error, inflated) => {
          if (!error) resolve(inflated);
          else if ((error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE")
            resolve({
              code: Status.RESOURCE_EXHAUSTED,
              details: `Received message that decompresses to a size larger than ${this.maxBytes}`,
            });
          else resolve({ code: Status.INTERNAL, details: "Failed to decompress message" });
        },
      );
    });
  }
}
