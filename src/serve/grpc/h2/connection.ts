import type net from "node:net";
import {
  CLIENT_PREFACE,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FRAME_HEADER_LENGTH,
  FrameType,
  frame,
  goawayFrame,
  MAX_MAX_FRAME_SIZE,
  MAX_WINDOW,
  MIN_MAX_FRAME_SIZE,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from "./frames.js";
import { encodeHeaderBlock, HpackDecoder, HpackError } from "./hpack.js";
import { MalformedRequest, RequestHead } from "./request-head.js";

/**
 * The server side of one cleartext HTTP/2 connection (h2c with prior knowledge, RFC 9113), made
 * for unary gRPC: a request is HEADERS and DATA, an answer HEADERS, DATA and trailing HEADERS.
 *
 * node:http2 costs ~26 µs of CPU a call (a JS Duplex a stream, header objects built and mapped,
 * round trips into nghttp2 for each of respond, write and trailers; README "Benchmarks"); a
 * call here is a few frames parsed from the socket's bytes and one buffer written for the whole
 * answer, coalesced with the other answers of the same tick into one socket write.
 *
 * What it implements of the RFC is what a server meets: the preface and SETTINGS exchange,
 * PING, flow control both ways (windows, WINDOW_UPDATE, SETTINGS_INITIAL_WINDOW_SIZE changes),
 * HEADERS with CONTINUATION, padding and priority, RST_STREAM, GOAWAY (graceful drain and
 * connection errors), the frame and stream state checks of §5 and §6 with their error codes,
 * the request checks of §8.3. It never pushes and has no priority scheduling (deprecated in
 * RFC 9113). Abuse is bounded: the header block size, the streams open at once, the rate of
 * streams a client resets (CVE-2023-44487), and reading stops while the client does not read.
 */

export interface H2ServerSettings {
  /** SETTINGS_MAX_CONCURRENT_STREAMS: more open streams are refused (REFUSED_STREAM). */
  maxConcurrentStreams: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE: how much of a request body the client may send ahead. */
  streamWindow: number;
  /** The connection's receive window (raised from 65,535 by a WINDOW_UPDATE at the start). */
  connectionWindow: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: a larger request header list is answered 431. */
  maxHeaderListSize: number;
  /** How long a new connection may take to send its preface and SETTINGS (default 10 s). */
  prefaceTimeoutMs?: number;
  /** A bug met while handling the connection's frames (the connection then fails, INTERNAL_ERROR). */
  onError?: (error: unknown) => void;
}

/** What the application does with a stream's request. */
export interface StreamListener {
  /** A piece of the request body. */
  data(chunk: Buffer): void;
  /** The client ended the request (END_STREAM). */
  end(): void;
  /** The stream is over: answered, reset by the client, or its connection ended. */
  closed(): void;
}

export type RequestHandler = (stream: H2Stream, head: RequestHead) => void;

/** A header block (HEADERS then CONTINUATION frames) being received. */
interface PartialBlock {
  stream: number;
  flags: number;
  chunks: Buffer[];
  size: number;
}

/** The compressed header block one request may take, beyond which the connection fails. */
const MAX_HEADER_BLOCK = 256 * 1024;
/** Client resets allowed in a burst, and refilled per second (nghttp2 uses 1,000 and 33). */
const RESET_BURST = 1000;
const RESETS_PER_SECOND = 100;
/** Ids of streams this side reset, whose late frames are ignored (§5.1 "closed"). */
const RESET_MEMORY = 256;
/** How long a connection ending on an error waits for the client to close before cutting it. */
const CLOSE_GRACE_MS = 2000;
/**
 * How long a new connection may take to send its preface and SETTINGS: a socket that never
 * speaks HTTP/2 (a port scan, a stalled or slowloris client) is closed instead of held.
 */
const PREFACE_TIMEOUT_MS = 10_000;
/** The largest batch of small writes joined into one buffer before the socket write. */
const JOIN_LIMIT = 256 * 1024;
/** A dynamic table size update to 0 (RFC 7541 §6.3): our encoder never indexes. */
const TABLE_SIZE_ZERO = Buffer.from([0x20]);

/** The answer to a request header list over SETTINGS_MAX_HEADER_LIST_SIZE (RFC 6585). */
const STATUS_431 = encodeHeaderBlock([[":status", "431"]]);

/** One request/answer exchange. */
export class H2Stream {
  listener: StreamListener | undefined;
  /** The client sent END_STREAM. */
  remoteEnded = false;
  /** This side has queued its END_STREAM (or reset the stream). */
  localEnded = false;
  closed = false;
  /** How much DATA this side may still send on the stream (the client's window). */
  sendWindow: number;
  /** How much DATA the client may still send before a WINDOW_UPDATE. */
  receiveWindow: number;
  /** Received and read, not yet given back by a WINDOW_UPDATE. */
  unacknowledged = 0;
  /** content-length of the request, -1 when absent (§8.1.1: DATA must add up to it). */
  contentLength = -1;
  received = 0;
  /** An answer's body waiting for flow control, from `pendingAt`, and the trailers after it. */
  pending: Buffer | undefined;
  pendingAt = 0;
  pendingTrailers: Buffer | undefined;

  constructor(
    readonly id: number,
    private readonly connection: H2ServerConnection,
    sendWindow: number,
    receiveWindow: number,
  ) {
    this.sendWindow = sendWindow;
    this.receiveWindow = receiveWindow;
  }

  /** True while an answer can still be sent. */
  get open(): boolean {
    return !this.localEnded && !this.closed;
  }

  /** HEADERS only: a response without body (Trailers-Only in gRPC), ending the stream. */
  respond(headerBlock: Buffer): void {
    if (!this.open) return;
    this.localEnded = true;
    this.connection.sendHeaders(this, headerBlock, true);
    this.connection.localEndDone(this);
  }

  /** A whole answer: HEADERS, the body as DATA, trailing HEADERS with END_STREAM. */
  answer(headerBlock: Buffer, body: Buffer, trailerBlock: Buffer): void {
    if (!this.open) return;
    this.localEnded = true;
    this.connection.sendAnswer(this, headerBlock, body, trailerBlock);
  }

  /** RST_STREAM: the stream ends here with this code. */
  reset(code: ErrorCode): void {
    if (this.closed) return;
    this.connection.resetStream(this, code);
  }
}

/** A failure of the whole connection: GOAWAY with this code (§5.4.1). */
class ConnectionError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

function flushOutput(connection: H2ServerConnection): void {
  connection.flush();
}

export class H2ServerConnection {
  private readonly streams = new Map<number, H2Stream>();
  private readonly decoder = new HpackDecoder();
  /** The highest stream id the client opened. */
  private lastStreamId = 0;
  private input: Buffer | undefined;
  private prefaceRead = false;
  private settingsRead = false;
  private block: PartialBlock | undefined;
  // The client's settings, as far as they matter to what this side sends.
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrameSize = MIN_MAX_FRAME_SIZE;
  private sendWindow = DEFAULT_WINDOW;
  private receiveWindow: number;
  private unacknowledged = 0;
  /** The next header block starts with a table size update (see TABLE_SIZE_ZERO). */
  private tableSizeUpdate = true;
  private output: Buffer[] = [];
  private outputBytes = 0;
  private flushQueued = false;
  /** Streams whose answer waits for flow control, in order. */
  private blocked: H2Stream[] = [];
  private readonly recentlyReset: number[] = [];
  private resetBudget = RESET_BURST;
  private resetBudgetAt = performance.now();
  private goawaySent = false;
  private dead = false;
  private readonly closeCallbacks: (() => void)[] = [];
  private readonly prefaceTimer: NodeJS.Timeout;

  constructor(
    private readonly socket: net.Socket,
    private readonly settings: H2ServerSettings,
    private readonly onRequest: RequestHandler,
  ) {
    this.receiveWindow = settings.connectionWindow;
    socket.on("data", (chunk: Buffer) => this.read(chunk));
    socket.on("error", () => {});
    socket.on("close", () => this.closedSocket());
    this.prefaceTimer = setTimeout(() => {
      if (!this.settingsRead) this.fail(ErrorCode.PROTOCOL_ERROR, "no connection preface in time");
    }, settings.prefaceTimeoutMs ?? PREFACE_TIMEOUT_MS).unref();
    this.write(
      settingsFrame([
        [Setting.MAX_CONCURRENT_STREAMS, settings.maxConcurrentStreams],
        [Setting.INITIAL_WINDOW_SIZE, settings.streamWindow],
        [Setting.MAX_HEADER_LIST_SIZE, settings.maxHeaderListSize],
      ]),
    );
    if (settings.connectionWindow > DEFAULT_WINDOW)
      this.write(windowUpdateFrame(0, settings.connectionWindow - DEFAULT_WINDOW));
  }

  /** Calls `callback` once the connection is closed. */
  onClose(callback: () => void): void {
    if (this.dead && this.socket.destroyed) callback();
    else this.closeCallbacks.push(callback);
  }

  /** Graceful end: GOAWAY, no new streams; the socket ends once the open streams are answered. */
  drain(): void {
    if (this.dead || this.goawaySent) return;
    this.goawaySent = true;
    this.write(goawayFrame(this.lastStreamId, ErrorCode.NO_ERROR));
    this.endIfIdle();
  }

  /** Cuts the connection at once (the streams still open are dropped). */
  destroy(): void {
    this.dead = true;
    this.socket.destroy();
  }

  // ---- reading ----

  private read(chunk: Buffer): void {
    if (this.dead) return;
    let data = this.input === undefined ? chunk : Buffer.concat([this.input, chunk]);
    this.input = undefined;
    let at = 0;
    try {
      if (!this.prefaceRead) {
        const have = Math.min(data.length, CLIENT_PREFACE.length);
        if (!data.subarray(0, have).equals(CLIENT_PREFACE.subarray(0, have)))
          throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "invalid connection preface");
        if (have < CLIENT_PREFACE.length) {
          this.input = data;
          return;
        }
        this.prefaceRead = true;
        at = CLIENT_PREFACE.length;
      }
      while (data.length - at >= FRAME_HEADER_LENGTH) {
        const length = (data[at] << 16) | (data[at + 1] << 8) | data[at + 2];
        if (length > MIN_MAX_FRAME_SIZE)
          throw new ConnectionError(
            ErrorCode.FRAME_SIZE_ERROR,
            `a frame of ${length} octets is over SETTINGS_MAX_FRAME_SIZE`,
          );
        if (data.length - at - FRAME_HEADER_LENGTH < length) break;
        const type = data[at + 3];
        const flags = data[at + 4];
        const stream = data.readUInt32BE(at + 5) & 0x7fffffff;
        const start = at + FRAME_HEADER_LENGTH;
        at = start + length;
        this.frame(type, flags, stream, data.subarray(start, at));
        if (this.dead) return;
      }
    } catch (error) {
      if (error instanceof ConnectionError) return this.fail(error.code, error.message);
      this.settings.onError?.(error);
      return this.fail(ErrorCode.INTERNAL_ERROR, "internal error");
    }
    if (at < data.length) {
      // Keep only the partial frame, not the whole chunk it came in.
      data = data.subarray(at);
      this.input = data.length < 4096 ? Buffer.from(data) : data;
    }
  }

  private frame(type: number, flags: number, id: number, payload: Buffer): void {
    if (this.block !== undefined && type !== FrameType.CONTINUATION)
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "a header block was interrupted");
    if (!this.settingsRead && (type !== FrameType.SETTINGS || flags & Flag.ACK))
      throw new ConnectionError(
        ErrorCode.PROTOCOL_ERROR,
        "the preface's SETTINGS frame is missing",
      );
    switch (type) {
      case FrameType.DATA:
        return this.data(flags, id, payload);
      case FrameType.HEADERS:
        return this.headers(flags, id, payload);
      case FrameType.PRIORITY:
        return this.priority(id, payload);
      case FrameType.RST_STREAM:
        return this.rstStream(id, payload);
      case FrameType.SETTINGS:
        return this.settingsFrame(flags, id, payload);
      case FrameType.PUSH_PROMISE:
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "a client may not push");
      case FrameType.PING:
        return this.ping(flags, id, payload);
      case FrameType.GOAWAY:
        return this.goaway(id, payload);
      case FrameType.WINDOW_UPDATE:
        return this.windowUpdate(id, payload);
      case FrameType.CONTINUATION:
        return this.continuation(flags, id, payload);
      default:
      // Unknown frame types are ignored (§5.5).
    }
  }

  /** The payload without its padding (§6.1, §6.2), from `skip` octets after the pad length. */
  private unpadded(flags: number, payload: Buffer, skip: number): Buffer {
    if (!(flags & Flag.PADDED)) {
      if (skip > payload.length)
        throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "a frame too short for its fields");
      return skip === 0 ? payload : payload.subarray(skip);
    }
    if (payload.length < 1 + skip)
      throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "a frame too short for its fields");
    const end = payload.length - payload[0];
    if (end < 1 + skip)
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "padding as long as the frame");
    return payload.subarray(1 + skip, end);
  }

  private data(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0");
    const length = payload.length;
    this.receiveWindow -= length;
    if (this.receiveWindow < 0)
      throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, "DATA past the connection window");
    // The connection's window is given back at once: the body is read as it comes.
    this.consumed(length);
    const body = this.unpadded(flags, payload, 0);
    const stream = this.streams.get(id);
    if (stream === undefined) return this.frameOnClosed(id, "DATA");
    if (stream.remoteEnded) return this.resetStream(stream, ErrorCode.STREAM_CLOSED);
    stream.receiveWindow -= length;
    if (stream.receiveWindow < 0) return this.resetStream(stream, ErrorCode.FLOW_CONTROL_ERROR);
    stream.received += body.length;
    const end = (flags & Flag.END_STREAM) !== 0;
    if (end) {
      stream.remoteEnded = true;
      if (stream.contentLength >= 0 && stream.received !== stream.contentLength)
        return this.resetStream(stream, ErrorCode.PROTOCOL_ERROR);
    } else {
      stream.unacknowledged += length;
      if (stream.unacknowledged >= this.settings.streamWindow / 2) {
        this.write(windowUpdateFrame(id, stream.unacknowledged));
        stream.receiveWindow += stream.unacknowledged;
        stream.unacknowledged = 0;
      }
    }
    if (body.length > 0) stream.listener?.data(body);
    if (end) {
      stream.listener?.end();
      if (stream.localEnded && !stream.closed && stream.pending === undefined)
        this.closeStream(stream);
    }
  }

  private consumed(length: number): void {
    this.unacknowledged += length;
    if (this.unacknowledged >= this.settings.connectionWindow / 2) {
      this.write(windowUpdateFrame(0, this.unacknowledged));
      this.receiveWindow += this.unacknowledged;
      this.unacknowledged = 0;
    }
  }

  /** A frame for a stream that is not open: an error if it was never opened, else ignored/reset. */
  private frameOnClosed(id: number, what: string): void {
    if (id > this.lastStreamId || id % 2 === 0)
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `${what} on idle stream ${id}`);
    // Late frames of a stream this side reset are expected (§5.1); others are a stream error.
    if (!this.recentlyReset.includes(id)) this.write(rstStreamFrame(id, ErrorCode.STREAM_CLOSED));
  }

  private headers(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0");
    const fragment = this.unpadded(flags, payload, flags & Flag.PRIORITY ? 5 : 0);
    if (flags & Flag.PRIORITY) {
      const at = flags & Flag.PADDED ? 1 : 0;
      if ((payload.readUInt32BE(at) & 0x7fffffff) === id && !this.streams.has(id)) {
        // A stream depending on itself (§5.3.1): a stream error; the block is still decoded.
        this.headerBlock(id, flags, fragment, true);
        return;
      }
    }
    if (flags & Flag.END_HEADERS) return this.headerBlock(id, flags, fragment, false);
    this.block = { stream: id, flags, chunks: [Buffer.from(fragment)], size: fragment.length };
  }

  private continuation(flags: number, id: number, payload: Buffer): void {
    const block = this.block;
    if (block === undefined || block.stream !== id)
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "CONTINUATION without its HEADERS");
    block.size += payload.length;
    if (block.size > MAX_HEADER_BLOCK)
      throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "a header block over 256 KiB");
    block.chunks.push(Buffer.from(payload));
    if (!(flags & Flag.END_HEADERS)) return;
    this.block = undefined;
    this.headerBlock(id, block.flags, Buffer.concat(block.chunks, block.size), false);
  }

  private headerBlock(id: number, flags: number, block: Buffer, selfDependent: boolean): void {
    let list;
    try {
      list = this.decoder.decode(block, this.settings.maxHeaderListSize);
    } catch (error) {
      if (error instanceof HpackError)
        throw new ConnectionError(ErrorCode.COMPRESSION_ERROR, `header block: ${error.message}`);
      throw error;
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    const existing = this.streams.get(id);
    if (existing !== undefined) {
      // Trailers of a request: they must end it (§8.1).
      if (existing.remoteEnded) return this.resetStream(existing, ErrorCode.STREAM_CLOSED);
      if (!endStream) return this.resetStream(existing, ErrorCode.PROTOCOL_ERROR);
      existing.remoteEnded = true;
      existing.listener?.end();
      if (existing.localEnded && !existing.closed && existing.pending === undefined)
        this.closeStream(existing);
      return;
    }
    if (id % 2 === 0)
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `a client stream id is odd, not ${id}`);
    if (id <= this.lastStreamId) {
      if (this.recentlyReset.includes(id)) return;
      throw new ConnectionError(ErrorCode.STREAM_CLOSED, `HEADERS on closed stream ${id}`);
    }
    this.lastStreamId = id;
    // After GOAWAY no stream is started; REFUSED_STREAM tells the client a retry is safe.
    if (this.goawaySent) return this.refuse(id, ErrorCode.REFUSED_STREAM);
    if (selfDependent) return this.refuse(id, ErrorCode.PROTOCOL_ERROR);
    if (this.streams.size >= this.settings.maxConcurrentStreams)
      return this.refuse(id, ErrorCode.REFUSED_STREAM);
    const stream = new H2Stream(id, this, this.peerInitialWindow, this.settings.streamWindow);
    stream.remoteEnded = endStream;
    this.streams.set(id, stream);
    if (list === null) {
      // Over SETTINGS_MAX_HEADER_LIST_SIZE: 431 (RFC 6585), this request only.
      stream.respond(STATUS_431);
      return;
    }
    let head: RequestHead;
    try {
      head = new RequestHead(list);
      const length = head.get("content-length");
      if (length !== undefined) {
        if (!/^\d{1,15}$/.test(length))
          throw new MalformedRequest("content-length is not a number");
        stream.contentLength = Number(length);
        if (endStream && stream.contentLength !== 0)
          throw new MalformedRequest("content-length does not match the body");
      }
    } catch (error) {
      if (error instanceof MalformedRequest)
        return this.resetStream(stream, ErrorCode.PROTOCOL_ERROR);
      throw error;
    }
    this.onRequest(stream, head);
    if (endStream && !stream.closed) stream.listener?.end();
  }

  private refuse(id: number, code: ErrorCode): void {
    this.write(rstStreamFrame(id, code));
    this.rememberReset(id);
  }

  private priority(id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PRIORITY on stream 0");
    if (payload.length !== 5) {
      const stream = this.streams.get(id);
      if (stream) this.resetStream(stream, ErrorCode.FRAME_SIZE_ERROR);
      else this.write(rstStreamFrame(id, ErrorCode.FRAME_SIZE_ERROR));
    }
    // Otherwise ignored: RFC 9113 deprecates the priority scheme.
  }

  private rstStream(id: number, payload: Buffer): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0");
    if (payload.length !== 4)
      throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM of length other than 4");
    if (id > this.lastStreamId)
      throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${id}`);
    const now = performance.now();
    this.resetBudget = Math.min(
      RESET_BURST,
      this.resetBudget + ((now - this.resetBudgetAt) / 1000) * RESETS_PER_SECOND,
    );
    this.resetBudgetAt = now;
    if (--this.resetBudget < 0)
      throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, "too many streams reset");
    const stream = this.streams.get(id);
    if (stream !== undefined) this.closeStream(stream);
  }

  private settingsFrame(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream");
    if (flags & Flag.ACK) {
      if (payload.length !== 0)
        throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "a SETTINGS ACK with a payload");
      return;
    }
    if (payload.length % 6 !== 0)
      throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS not a multiple of 6 octets");
    if (!this.settingsRead) {
      this.settingsRead = true;
      clearTimeout(this.prefaceTimer);
    }
    for (let at = 0; at < payload.length; at += 6) {
      const value = payload.readUInt32BE(at + 2);
      switch (payload.readUInt16BE(at)) {
        case Setting.HEADER_TABLE_SIZE:
          this.tableSizeUpdate = true;
          break;
        case Setting.ENABLE_PUSH:
          if (value > 1)
            throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "SETTINGS_ENABLE_PUSH not 0 or 1");
          break;
        case Setting.INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW)
            throw new ConnectionError(
              ErrorCode.FLOW_CONTROL_ERROR,
              "SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1",
            );
          const delta = value - this.peerInitialWindow;
          this.peerInitialWindow = value;
          for (const stream of this.streams.values()) {
            stream.sendWindow += delta;
            if (stream.sendWindow > MAX_WINDOW)
              throw new ConnectionError(
                ErrorCode.FLOW_CONTROL_ERROR,
                "a stream window over 2^31-1",
              );
          }
          break;
        }
        case Setting.MAX_FRAME_SIZE:
          if (value < MIN_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE)
            throw new ConnectionError(
              ErrorCode.PROTOCOL_ERROR,
              "SETTINGS_MAX_FRAME_SIZE out of range",
            );
          this.peerMaxFrameSize = value;
          break;
        default:
        // MAX_CONCURRENT_STREAMS and MAX_HEADER_LIST_SIZE bound what the client receives from
        // a server that pushes nothing and answers a few small headers; unknown ones are ignored.
      }
    }
    this.write(frame(FrameType.SETTINGS, Flag.ACK, 0));
    this.sendBlocked();
  }

  private ping(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "PING on a stream");
    if (payload.length !== 8)
      throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "PING of length other than 8");
    if (!(flags & Flag.ACK)) this.write(frame(FrameType.PING, Flag.ACK, 0, payload));
  }

  private goaway(id: number, payload: Buffer): void {
    if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream");
    if (payload.length < 8)
      throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "GOAWAY shorter than 8 octets");
    // The client opens no more streams; the open ones are answered, then the connection ends.
    if (!this.goawaySent) {
      this.goawaySent = true;
      this.write(goawayFrame(this.lastStreamId, ErrorCode.NO_ERROR));
    }
    this.endIfIdle();
  }

  private windowUpdate(id: number, payload: Buffer): void {
    if (payload.length !== 4)
      throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE of length other than 4");
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (id === 0) {
      if (increment === 0)
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0 on the connection");
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW)
        throw new ConnectionError(
          ErrorCode.FLOW_CONTROL_ERROR,
          "the connection window over 2^31-1",
        );
      return this.sendBlocked();
    }
    const stream = this.streams.get(id);
    if (stream === undefined) {
      if (id > this.lastStreamId)
        throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${id}`);
      return;
    }
    if (increment === 0) return this.resetStream(stream, ErrorCode.PROTOCOL_ERROR);
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW)
      return this.resetStream(stream, ErrorCode.FLOW_CONTROL_ERROR);
    if (stream.pending !== undefined) this.sendBlocked();
  }

  // ---- writing ----

  /** Queues bytes for the socket; they go in one write after the current tick's work. */
  private write(bytes: Buffer): void {
    this.output.push(bytes);
    this.outputBytes += bytes.length;
    if (!this.flushQueued) {
      this.flushQueued = true;
      // After the microtasks of this tick: the answers a micro-batch resolves together leave
      // in one write.
      process.nextTick(flushOutput, this);
    }
  }

  /** Writes what is queued. */
  flush(): void {
    this.flushQueued = false;
    const { output, socket } = this;
    if (output.length === 0) return;
    const bytes = this.outputBytes;
    this.output = [];
    this.outputBytes = 0;
    if (socket.destroyed || socket.writableEnded) return;
    let room: boolean;
    if (output.length === 1) room = socket.write(output[0]);
    else if (bytes <= JOIN_LIMIT) room = socket.write(Buffer.concat(output, bytes));
    else {
      socket.cork();
      room = true;
      for (const bytes of output) room = socket.write(bytes);
      socket.uncork();
    }
    // A client that does not read its answers stops being read (what it asks is bounded).
    if (!room && !socket.isPaused()) {
      socket.pause();
      socket.once("drain", () => socket.resume());
    }
  }

  /** A header block's frames: HEADERS, then CONTINUATION beyond the client's frame size. */
  private headerFrames(id: number, block: Buffer, endStream: boolean): Buffer {
    if (this.tableSizeUpdate) {
      this.tableSizeUpdate = false;
      block = Buffer.concat([TABLE_SIZE_ZERO, block]);
    }
    const max = this.peerMaxFrameSize;
    const frames = Math.max(1, Math.ceil(block.length / max));
    const out = Buffer.allocUnsafe(block.length + frames * FRAME_HEADER_LENGTH);
    let at = 0;
    for (let i = 0, from = 0; i < frames; i++, from += max) {
      const piece = Math.min(max, block.length - from);
      const last = i === frames - 1;
      writeFrameHeader(
        out,
        at,
        piece,
        i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION,
        (last ? Flag.END_HEADERS : 0) | (i === 0 && endStream ? Flag.END_STREAM : 0),
        id,
      );
      block.copy(out, at + FRAME_HEADER_LENGTH, from, from + piece);
      at += FRAME_HEADER_LENGTH + piece;
    }
    return out;
  }

  sendHeaders(stream: H2Stream, block: Buffer, endStream: boolean): void {
    this.write(this.headerFrames(stream.id, block, endStream));
  }

  sendAnswer(stream: H2Stream, headerBlock: Buffer, body: Buffer, trailerBlock: Buffer): void {
    const size = body.length;
    if (
      size <= this.peerMaxFrameSize &&
      size <= stream.sendWindow &&
      size <= this.sendWindow &&
      !this.tableSizeUpdate &&
      headerBlock.length <= this.peerMaxFrameSize &&
      trailerBlock.length <= this.peerMaxFrameSize
    ) {
      // The common case: the three frames in one buffer.
      const out = Buffer.allocUnsafe(
        3 * FRAME_HEADER_LENGTH + headerBlock.length + size + trailerBlock.length,
      );
      writeFrameHeader(out, 0, headerBlock.length, FrameType.HEADERS, Flag.END_HEADERS, stream.id);
      headerBlock.copy(out, FRAME_HEADER_LENGTH);
      let at = FRAME_HEADER_LENGTH + headerBlock.length;
      writeFrameHeader(out, at, size, FrameType.DATA, 0, stream.id);
      body.copy(out, at + FRAME_HEADER_LENGTH);
      at += FRAME_HEADER_LENGTH + size;
      writeFrameHeader(
        out,
        at,
        trailerBlock.length,
        FrameType.HEADERS,
        Flag.END_HEADERS | Flag.END_STREAM,
        stream.id,
      );
      trailerBlock.copy(out, at + FRAME_HEADER_LENGTH);
      stream.sendWindow -= size;
      this.sendWindow -= size;
      this.write(out);
      return this.localEndDone(stream);
    }
    this.write(this.headerFrames(stream.id, headerBlock, false));
    stream.pending = body;
    stream.pendingAt = 0;
    stream.pendingTrailers = trailerBlock;
    this.blocked.push(stream);
    this.sendBlocked();
  }

  /** Sends what flow control allows of the answers waiting for it. */
  private sendBlocked(): void {
    if (this.blocked.length === 0) return;
    const still: H2Stream[] = [];
    for (const stream of this.blocked) {
      if (stream.closed) continue;
      if (!this.sendPending(stream)) still.push(stream);
    }
    this.blocked = still;
  }

  /** Writes DATA of a waiting answer as windows allow; true once it and its trailers are sent. */
  private sendPending(stream: H2Stream): boolean {
    const body = stream.pending;
    if (body === undefined) return true;
    while (stream.pendingAt < body.length) {
      const piece = Math.min(
        body.length - stream.pendingAt,
        stream.sendWindow,
        this.sendWindow,
        this.peerMaxFrameSize,
      );
      if (piece <= 0) return false;
      const out = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + piece);
      writeFrameHeader(out, 0, piece, FrameType.DATA, 0, stream.id);
      body.copy(out, FRAME_HEADER_LENGTH, stream.pendingAt, stream.pendingAt + piece);
      this.write(out);
      stream.pendingAt += piece;
      stream.sendWindow -= piece;
      this.sendWindow -= piece;
    }
    stream.pending = undefined;
    const trailers = stream.pendingTrailers;
    stream.pendingTrailers = undefined;
    if (trailers !== undefined) this.write(this.headerFrames(stream.id, trailers, true));
    this.localEndDone(stream);
    return true;
  }

  /** This side's END_STREAM is sent: the stream closes (RST_STREAM NO_ERROR if the client is still sending, §8.1). */
  localEndDone(stream: H2Stream): void {
    if (stream.closed) return;
    if (!stream.remoteEnded) {
      this.write(rstStreamFrame(stream.id, ErrorCode.NO_ERROR));
      this.rememberReset(stream.id);
    }
    this.closeStream(stream);
  }

  resetStream(stream: H2Stream, code: ErrorCode): void {
    if (stream.closed) return;
    stream.localEnded = true;
    this.write(rstStreamFrame(stream.id, code));
    this.rememberReset(stream.id);
    this.closeStream(stream);
  }

  private rememberReset(id: number): void {
    if (this.recentlyReset.length >= RESET_MEMORY) this.recentlyReset.shift();
    this.recentlyReset.push(id);
  }

  private closeStream(stream: H2Stream): void {
    if (stream.closed) return;
    stream.closed = true;
    stream.pending = undefined;
    stream.pendingTrailers = undefined;
    this.streams.delete(stream.id);
    stream.listener?.closed();
    this.endIfIdle();
  }

  private endIfIdle(): void {
    if (this.goawaySent && this.streams.size === 0) this.end();
  }

  /** A connection error: GOAWAY with its code, then the end of the connection (§5.4.1). */
  private fail(code: ErrorCode, message: string): void {
    if (this.dead) return;
    this.goawaySent = true;
    this.write(goawayFrame(this.lastStreamId, code, message));
    this.end();
    this.closeAll();
  }

  /** Sends what is queued and ends the socket; a client that does not close it in time is cut. */
  private end(): void {
    if (this.dead) return;
    this.dead = true;
    this.flush();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  private closeAll(): void {
    for (const stream of [...this.streams.values()]) {
      stream.localEnded = true;
      stream.closed = true;
      this.streams.delete(stream.id);
      stream.listener?.closed();
    }
    this.blocked = [];
  }

  private closedSocket(): void {
    clearTimeout(this.prefaceTimer);
    this.dead = true;
    this.closeAll();
    for (const callback of this.closeCallbacks.splice(0)) callback();
  }
}
