import { Readable, type Transform } from "node:stream";
import { createGunzip, createInflate } from "node:zlib";
import type { FastifyReply, FastifyRequest } from "fastify";
import { clip } from "./describe.js";
import { badRequest, RequestError, tooLarge } from "./errors.js";

/** The content codings a request body may come in (RFC 9110 names; x-gzip is gzip). */
const DECODERS = new Map<string, () => Transform>([
  ["gzip", createGunzip],
  ["x-gzip", createGunzip],
  ["deflate", createInflate],
]);

/**
 * Fastify preParsing hook: a body sent with `Content-Encoding: gzip` or `deflate` is decoded
 * as it is read, its decoded size held to the route's body limit (a zip bomb is a 413 after
 * bodyLimitBytes of output, not a gigabyte of memory). Other codings are a 415; a body that
 * is not what its Content-Encoding says is a 400 naming the header.
 */
export async function decodeContentEncoding(
  request: FastifyRequest,
  _reply: FastifyReply,
  payload: Readable,
): Promise<Readable> {
  const header = request.headers["content-encoding"];
  if (header === undefined || !hasBody(request)) return payload;
  const codings = header
    .split(",")
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== "" && coding !== "identity");
  if (codings.length === 0) return payload;
  const decoder = codings.length === 1 ? DECODERS.get(codings[0]) : undefined;
  if (decoder === undefined) {
    throw new RequestError(
      415,
      `Content-Encoding "${clip(header)}" is not supported; send the body as it is, or in one of: ${[...DECODERS.keys()].join(", ")}`,
    );
  }
  return new DecodedBody(payload, codings[0], decoder, request.routeOptions.bodyLimit);
}

function hasBody(request: FastifyRequest): boolean {
  const { headers } = request;
  return headers["transfer-encoding"] !== undefined || Number(headers["content-length"]) > 0;
}

/**
 * The decoded body. Decoding starts at the first read: a body that no parser reads (an
 * unsupported content type) stays untouched, so Node discards it and keeps the connection.
 */
class DecodedBody extends Readable {
  /** Bytes received as sent, for Fastify's Content-Length check. */
  receivedEncodedLength = 0;
  private decoded = 0;
  private decoder: Transform | undefined;
  private failed = false;

  constructor(
    private readonly source: Readable,
    private readonly coding: string,
    private readonly createDecoder: () => Transform,
    private readonly limit: number,
  ) {
    super();
  }

  override _read(): void {
    if (this.decoder !== undefined) {
      this.decoder.resume();
      return;
    }
    const decoder = this.createDecoder();
    this.decoder = decoder;
    this.source.on("data", (chunk: Buffer) => {
      this.receivedEncodedLength += chunk.length;
    });
    this.source.on("error", (error) => this.fail(error));
    // A client gone mid-body: without this the decoder would wait for the rest for good.
    this.source.on("close", () => {
      if (!this.source.readableEnded) this.fail(badRequest("the request body ended early"));
    });
    decoder.on("data", (chunk: Buffer) => {
      this.decoded += chunk.length;
      if (this.decoded > this.limit) return this.fail(tooLarge());
      if (!this.push(chunk)) decoder.pause();
    });
    decoder.on("end", () => this.push(null));
    decoder.on("error", (error) =>
      this.fail(
        badRequest(
          `the body is not valid ${this.coding} data, as its Content-Encoding says: ${clip(error.message)}`,
        ),
      ),
    );
    this.source.pipe(decoder);
  }

  private fail(error: Error): void {
    if (this.failed) return;
    this.failed = true;
    if (this.decoder !== undefined) {
      this.source.unpipe(this.decoder);
      this.decoder.destroy();
    }
    // The rest of the body drains; Fastify closes the connection after the error answer.
    this.source.resume();
    this.destroy(error);
  }
}
