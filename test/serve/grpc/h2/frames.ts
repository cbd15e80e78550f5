/**
 * A test-only raw HTTP/2 client (RFC 9113) for the conformance tests of the gRPC port: it
 * writes any frame, well-formed or forbidden, and records every frame the server sends, so a
 * test can wait for the one it expects. It decodes the server's header blocks with a real
 * HPACK implementation (Debian's python3-hpack, see hpack_codec.py), never with the server's code.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import net from "node:net";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { SYSTEM_PYTHON } from "../../../helpers/python.js";

export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export const Type = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  ENHANCE_YOUR_CALM: 0xb,
} as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

export const MAX_WINDOW = 2 ** 31 - 1;

/**
 * RFC 9113 §5.4.1: "After sending the GOAWAY frame for an error condition, the endpoint MUST
 * close the TCP connection." The connection-error tests require the close when this is true,
 * as for the gRPC port's own layer; node:http2 (nghttp2 1.61, Node 20) sent the GOAWAY but
 * left the socket open until the client closed it, and passed them only with this false.
 */
export const REQUIRE_CLOSE_AFTER_GOAWAY = true;
const DEFAULT_WINDOW = 65_535;
const DEFAULT_MAX_FRAME = 16_384;

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** One frame's bytes; `length` overrides the length field (to lie about it). */
export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Buffer = Buffer.alloc(0),
  length = payload.length,
): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId >>> 0, 5);
  return Buffer.concat([head, payload]);
}

export function settingsPayload(settings: [number, number][]): Buffer {
  const out = Buffer.alloc(6 * settings.length);
  settings.forEach(([id, value], i) => {
    out.writeUInt16BE(id, 6 * i);
    out.writeUInt32BE(value >>> 0, 6 * i + 2);
  });
  return out;
}

export const settingsFrame = (settings: [number, number][] = []) =>
  frame(Type.SETTINGS, 0, 0, settingsPayload(settings));

export function windowUpdate(streamId: number, increment: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(increment >>> 0);
  return frame(Type.WINDOW_UPDATE, 0, streamId, payload);
}

export function rstStream(streamId: number, code: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(Type.RST_STREAM, 0, streamId, payload);
}

export function goaway(lastStreamId: number, code: number): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(lastStreamId, 0);
  payload.writeUInt32BE(code, 4);
  return frame(Type.GOAWAY, 0, 0, payload);
}

/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1), the first byte's high bits set. */
function hpackInteger(value: number, prefixBits: number, high: number): number[] {
  const max = 2 ** prefixBits - 1;
  if (value < max) return [high | value];
  const out = [high | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

const hpackString = (text: string) => [
  ...hpackInteger(Buffer.byteLength(text), 7, 0),
  ...Buffer.from(text, "utf8"),
];

export type HeaderList = [string, string][];

/**
 * A header block of literals without indexing, new names, no Huffman (RFC 7541 §6.2.2): the
 * simplest valid encoding, which leaves both dynamic tables empty.
 */
export function literalBlock(headers: HeaderList): Buffer {
  const bytes: number[] = [];
  for (const [name, value] of headers)
    bytes.push(0x00, ...hpackString(name), ...hpackString(value));
  return Buffer.from(bytes);
}

export const INFER_PATH = "/inference.GRPCInferenceService/ModelInfer";
export const LIVE_PATH = "/inference.GRPCInferenceService/ServerLive";

export function grpcHeaders(port: number, path: string, extra: HeaderList = []): HeaderList {
  return [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", `127.0.0.1:${port}`],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
    ...extra,
  ];
}

/** A gRPC length-prefixed message: 1 byte flag (0, uncompressed) + 4 bytes length + bytes. */
export function grpcMessage(message: Buffer): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/** What one stream received: header blocks (raw, in order), DATA bytes, any RST_STREAM. */
export interface StreamRecord {
  blocks: Buffer[];
  data: Buffer[];
  dataFrameSizes: number[];
  ended: boolean;
  reset?: number;
}

export interface ConnectOptions {
  /** The bytes sent first (default: the preface then an empty SETTINGS). */
  start?: Buffer;
  /** ACK the server's SETTINGS (default true). */
  ackSettings?: boolean;
  /** Give back the windows for every DATA received at once (default true). */
  autoWindowUpdate?: boolean;
}

/**
 * One connection: frames in, parsed and kept in `frames` in order; a header block is joined
 * from HEADERS + CONTINUATION before it is recorded on its stream. Also the client's view of
 * the server's flow-control windows, so request bodies can be sent as a well-behaved client.
 */
export class H2Connection {
  readonly frames: Frame[] = [];
  readonly streams = new Map<number, StreamRecord>();
  closed = false;
  /** The server's settings, as last received. */
  readonly serverSettings = new Map<number, number>();
  /** Send windows (what the server lets us send). */
  connectionSendWindow = DEFAULT_WINDOW;
  readonly streamSendWindows = new Map<number, number>();
  private buffer: Buffer = Buffer.alloc(0);
  private pendingBlock: { streamId: number; parts: Buffer[]; endStream: boolean } | undefined;
  private waiters: (() => void)[] = [];
  private readonly autoWindowUpdate: boolean;
  private readonly ackSettings: boolean;

  private constructor(
    readonly socket: net.Socket,
    options: ConnectOptions,
  ) {
    this.autoWindowUpdate = options.autoWindowUpdate ?? true;
    this.ackSettings = options.ackSettings ?? true;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    const end = () => {
      this.closed = true;
      this.wake();
    };
    socket.on("close", end);
    socket.on("end", end);
    socket.on("error", end);
  }

  static async open(port: number, options: ConnectOptions = {}): Promise<H2Connection> {
    const socket = net.connect({ host: "127.0.0.1", port });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const connection = new H2Connection(socket, options);
    socket.write(options.start ?? Buffer.concat([PREFACE, settingsFrame()]));
    return connection;
  }

  /** A connection whose server SETTINGS arrived (and were ACKed when ackSettings). */
  static async ready(port: number, options: ConnectOptions = {}): Promise<H2Connection> {
    const connection = await H2Connection.open(port, options);
    await connection.waitFor(
      (f) => f.type === Type.SETTINGS && !(f.flags & Flag.ACK),
      "the server's SETTINGS",
    );
    return connection;
  }

  send(...chunks: Buffer[]): void {
    if (!this.socket.destroyed) this.socket.write(Buffer.concat(chunks));
  }

  close(): void {
    this.socket.destroy();
  }

  get serverInitialWindow(): number {
    return this.serverSettings.get(Setting.INITIAL_WINDOW_SIZE) ?? DEFAULT_WINDOW;
  }

  get serverMaxFrame(): number {
    return this.serverSettings.get(Setting.MAX_FRAME_SIZE) ?? DEFAULT_MAX_FRAME;
  }

  stream(streamId: number): StreamRecord {
    let record = this.streams.get(streamId);
    if (!record) {
      record = { blocks: [], data: [], dataFrameSizes: [], ended: false };
      this.streams.set(streamId, record);
    }
    return record;
  }

  /** Resolves with the first frame (already received or to come) that matches. */
  waitFor(match: (frame: Frame) => boolean, what: string, timeoutMs = 4_000): Promise<Frame> {
    return this.until(() => this.frames.find(match), what, timeoutMs);
  }

  /** Resolves once `check` returns a value; rejects naming `what` after timeoutMs. */
  until<T>(check: () => T | undefined, what: string, timeoutMs = 4_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== poll);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const poll = () => {
        const found = check();
        if (found === undefined) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== poll);
        resolve(found);
      };
      this.waiters.push(poll);
      poll();
    });
  }

  waitClosed(what = "the connection to close", timeoutMs = 4_000): Promise<true> {
    return this.until(() => (this.closed ? true : undefined), what, timeoutMs);
  }

  /** What the server sent, for failure messages. */
  describe(): string {
    const frames = this.frames.map((f) => {
      if (f.type === Type.GOAWAY) return `GOAWAY(code ${f.payload.readUInt32BE(4)})`;
      if (f.type === Type.RST_STREAM)
        return `RST_STREAM(${f.streamId}, ${f.payload.readUInt32BE(0)})`;
      return `${Object.keys(Type).find((k) => Type[k as keyof typeof Type] === f.type) ?? f.type}(${f.streamId})`;
    });
    return `received ${frames.slice(-12).join(" ")}; ${this.closed ? "closed" : "open"}`;
  }

  /** The server's GOAWAY frames, decoded. */
  goaways(): { lastStreamId: number; code: number }[] {
    return this.frames
      .filter((f) => f.type === Type.GOAWAY)
      .map((f) => ({
        lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff,
        code: f.payload.readUInt32BE(4),
      }));
  }

  /**
   * A connection error (RFC 9113 §5.4.1): GOAWAY with one of `codes` then close, or close
   * alone. A GOAWAY with another code fails. The close after the GOAWAY is required only
   * with REQUIRE_CLOSE_AFTER_GOAWAY (see there).
   */
  async expectConnectionError(
    codes: number[],
    what: string,
    requireClose = REQUIRE_CLOSE_AFTER_GOAWAY,
  ): Promise<void> {
    await this.until(
      () => (this.closed || this.goaways().some((g) => g.code !== 0) ? true : undefined),
      `a connection error (${what})`,
    );
    const errors = this.goaways().filter((g) => g.code !== ErrorCode.NO_ERROR);
    if (errors.length > 0) {
      const code = errors[0].code;
      if (!codes.includes(code))
        throw new Error(
          `${what}: GOAWAY code ${code}, expected one of ${codes.join(", ")} (${this.describe()})`,
        );
    }
    // §5.4.1: after the GOAWAY of an error the endpoint MUST close the TCP connection.
    if (requireClose)
      await this.waitClosed(`the connection to close after ${what} (${this.describe()})`);
  }

  /**
   * Sends a body as DATA within the server's windows and max frame size, waiting for its
   * WINDOW_UPDATEs as a well-behaved client must (§6.9).
   */
  async sendData(streamId: number, body: Buffer, endStream = true): Promise<void> {
    let offset = 0;
    do {
      const allowed = await this.until(() => {
        const window = Math.min(this.connectionSendWindow, this.streamSendWindow(streamId));
        const want = Math.min(body.length - offset, this.serverMaxFrame);
        if (want === 0) return 0;
        return window > 0 ? Math.min(window, want) : undefined;
      }, `window to send DATA on stream ${streamId}`);
      const last = offset + allowed === body.length;
      this.connectionSendWindow -= allowed;
      this.streamSendWindows.set(streamId, this.streamSendWindow(streamId) - allowed);
      this.send(
        frame(
          Type.DATA,
          last && endStream ? Flag.END_STREAM : 0,
          streamId,
          body.subarray(offset, offset + allowed),
        ),
      );
      offset += allowed;
    } while (offset < body.length);
  }

  private streamSendWindow(streamId: number): number {
    return this.streamSendWindows.get(streamId) ?? this.serverInitialWindow;
  }

  /** HEADERS (END_HEADERS; END_STREAM when there is no body) then the body within windows. */
  async request(streamId: number, headers: HeaderList, body?: Buffer): Promise<void> {
    const flags = Flag.END_HEADERS | (body ? 0 : Flag.END_STREAM);
    this.send(frame(Type.HEADERS, flags, streamId, literalBlock(headers)));
    if (body) await this.sendData(streamId, body);
  }

  /** Waits for a stream's end (END_STREAM or RST_STREAM from the server). */
  answered(streamId: number, timeoutMs = 4_000): Promise<StreamRecord> {
    return this.until(
      () => {
        const record = this.streams.get(streamId);
        return record && (record.ended || record.reset !== undefined) ? record : undefined;
      },
      `the answer on stream ${streamId}`,
      timeoutMs,
    );
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    while (this.buffer.length >= 9) {
      const length = this.buffer.readUIntBE(0, 3);
      if (this.buffer.length < 9 + length) break;
      const parsed: Frame = {
        type: this.buffer[3],
        flags: this.buffer[4],
        streamId: this.buffer.readUInt32BE(5) & 0x7fffffff,
        payload: Buffer.from(this.buffer.subarray(9, 9 + length)),
      };
      this.buffer = this.buffer.subarray(9 + length);
      this.frames.push(parsed);
      this.track(parsed);
    }
    this.wake();
  }

  private track(f: Frame): void {
    switch (f.type) {
      case Type.SETTINGS:
        if (f.flags & Flag.ACK) return;
        for (let i = 0; i + 6 <= f.payload.length; i += 6) {
          const id = f.payload.readUInt16BE(i);
          const value = f.payload.readUInt32BE(i + 2);
          if (id === Setting.INITIAL_WINDOW_SIZE) {
            const delta = value - this.serverInitialWindow;
            for (const [stream, window] of this.streamSendWindows)
              this.streamSendWindows.set(stream, window + delta);
          }
          this.serverSettings.set(id, value);
        }
        if (this.ackSettings) this.send(frame(Type.SETTINGS, Flag.ACK, 0));
        return;
      case Type.WINDOW_UPDATE: {
        const increment = f.payload.readUInt32BE(0) & 0x7fffffff;
        if (f.streamId === 0) this.connectionSendWindow += increment;
        else this.streamSendWindows.set(f.streamId, this.streamSendWindow(f.streamId) + increment);
        return;
      }
      case Type.HEADERS: {
        let payload = f.payload;
        if (f.flags & Flag.PADDED) payload = payload.subarray(1, payload.length - payload[0]);
        if (f.flags & Flag.PRIORITY) payload = payload.subarray(5);
        this.pendingBlock = {
          streamId: f.streamId,
          parts: [payload],
          endStream: (f.flags & Flag.END_STREAM) !== 0,
        };
        if (f.flags & Flag.END_HEADERS) this.endBlock();
        return;
      }
      case Type.CONTINUATION:
        this.pendingBlock?.parts.push(f.payload);
        if (f.flags & Flag.END_HEADERS) this.endBlock();
        return;
      case Type.DATA: {
        const record = this.stream(f.streamId);
        let payload = f.payload;
        if (f.flags & Flag.PADDED) payload = payload.subarray(1, payload.length - payload[0]);
        record.data.push(payload);
        record.dataFrameSizes.push(f.payload.length);
        if (f.flags & Flag.END_STREAM) record.ended = true;
        // The stream's window only while it may still carry DATA (a closed stream's is moot).
        if (this.autoWindowUpdate && f.payload.length > 0)
          this.send(
            windowUpdate(0, f.payload.length),
            ...(f.flags & Flag.END_STREAM ? [] : [windowUpdate(f.streamId, f.payload.length)]),
          );
        return;
      }
      case Type.RST_STREAM:
        this.stream(f.streamId).reset = f.payload.readUInt32BE(0);
        return;
      default:
        return;
    }
  }

  private endBlock(): void {
    const block = this.pendingBlock;
    if (!block) return;
    this.pendingBlock = undefined;
    const record = this.stream(block.streamId);
    record.blocks.push(Buffer.concat(block.parts));
    if (block.endStream) record.ended = true;
  }
}

/**
 * HPACK by Debian's python3-hpack, one long-lived process (hpack_codec.py): decoding a
 * connection's blocks in order (its dynamic table follows them), and an encoder per context
 * that Huffman-codes and indexes (what real clients send).
 */
export class Hpack {
  private readonly process: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (e: Error) => void }
  >();
  private nextId = 1;

  constructor() {
    const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "hpack_codec.py");
    this.process = spawn(SYSTEM_PYTHON, [script], { stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    this.process.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    readline.createInterface({ input: this.process.stdout }).on("line", (line) => {
      const answer = JSON.parse(line) as { id: number; result?: unknown; error?: string };
      const waiter = this.pending.get(answer.id);
      this.pending.delete(answer.id);
      if (answer.error !== undefined) waiter?.reject(new Error(`hpack: ${answer.error}`));
      else waiter?.resolve(answer.result);
    });
    this.process.on("exit", (code) => {
      for (const waiter of this.pending.values())
        waiter.reject(new Error(`hpack_codec.py exited (${code}): ${stderr}`));
      this.pending.clear();
    });
  }

  private ask(request: Record<string, unknown>): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.process.stdin.write(`${JSON.stringify({ id, ...request })}\n`);
    });
  }

  /** Decodes all the header blocks of one connection, in the order the server sent them. */
  async decode(blocks: Buffer[], tableSize?: number): Promise<HeaderList[]> {
    return (await this.ask({
      op: "decode",
      blocks: blocks.map((b) => b.toString("hex")),
      ...(tableSize === undefined ? {} : { table_size: tableSize }),
    })) as HeaderList[];
  }

  /** Encodes with the connection's encoder (Huffman, dynamic table: python hpack's defaults). */
  async encode(context: string, headers: HeaderList): Promise<Buffer> {
    return Buffer.from((await this.ask({ op: "encode", context, headers })) as string, "hex");
  }

  close(): void {
    this.process.stdin.end();
  }
}

/**
 * Decodes every header block the connection received, in receive order (the HPACK dynamic
 * table spans the connection), and returns them by stream.
 */
export async function decodeAll(
  hpack: Hpack,
  connection: H2Connection,
  tableSize?: number,
): Promise<Map<number, HeaderList[]>> {
  const order: { streamId: number; block: Buffer }[] = [];
  // Reassemble header blocks in the order their frames arrived.
  let pending: { streamId: number; parts: Buffer[] } | undefined;
  for (const f of connection.frames) {
    if (f.type === Type.HEADERS) {
      let payload = f.payload;
      if (f.flags & Flag.PADDED) payload = payload.subarray(1, payload.length - payload[0]);
      if (f.flags & Flag.PRIORITY) payload = payload.subarray(5);
      pending = { streamId: f.streamId, parts: [payload] };
    } else if (f.type === Type.CONTINUATION && pending) {
      pending.parts.push(f.payload);
    } else continue;
    if (f.flags & Flag.END_HEADERS && pending) {
      order.push({ streamId: pending.streamId, block: Buffer.concat(pending.parts) });
      pending = undefined;
    }
  }
  const decoded = await hpack.decode(
    order.map((o) => o.block),
    tableSize,
  );
  const byStream = new Map<number, HeaderList[]>();
  order.forEach(({ streamId }, i) => {
    const list = byStream.get(streamId) ?? [];
    list.push(decoded[i]);
    byStream.set(streamId, list);
  });
  return byStream;
}

export const header = (headers: HeaderList, name: string): string | undefined =>
  headers.find(([n]) => n === name)?.[1];
