/**
 * A minimal HTTP/2 client for the gRPC load of `npm run bench:serve`: unary calls as raw
 * frames on a socket. node:http2's client costs ~100 µs of CPU a call (a JS stream, header
 * objects, nghttp2 round trips), more than the server it loads, and shares the machine with
 * it: the gRPC figures then measured the client, not the server. This client writes a fixed
 * header block (HPACK literals, no dynamic table) and fixed DATA, and reads frames without
 * decoding headers, as autocannon reads an HTTP answer without parsing its body: a call is
 * OK when its trailers are byte for byte those of a call checked before the clock (the
 * client asks for no HPACK dynamic table, so the server encodes equal trailers identically).
 * Load generation only; not a general-purpose client.
 */
import net from "node:net";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
const DATA = 0x0;
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
/** The largest frame a peer must accept (SETTINGS_MAX_FRAME_SIZE's default). */
const MAX_FRAME = 16_384;
const MAX_WINDOW = 2 ** 31 - 1;

function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(stream, 5);
  payload.copy(out, 9);
  return out;
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
  ...Buffer.from(text, "latin1"),
];

/**
 * The request's header block: :method POST and :scheme http from the static table, the rest
 * as literals without indexing (name from the static table where it is there).
 */
export function grpcHeaderBlock(authority: string, path: string): Buffer {
  return Buffer.from([
    0x83, // :method: POST
    0x86, // :scheme: http
    ...hpackInteger(4, 4, 0x00), // :path (static name 4), literal without indexing
    ...hpackString(path),
    ...hpackInteger(1, 4, 0x00), // :authority (static name 1)
    ...hpackString(authority),
    ...hpackInteger(31, 4, 0x00), // content-type (static name 31)
    ...hpackString("application/grpc"),
    0x00, // te: trailers (new name)
    ...hpackString("te"),
    ...hpackString("trailers"),
  ]);
}

/** One call's answer: its DATA bytes (the framed message) and its trailers' header block. */
export interface RawAnswer {
  data: Buffer;
  trailers: Buffer;
}

interface Pending {
  data: Buffer[];
  /** A header block being read over CONTINUATION frames. */
  block: Buffer[];
  resolve: (answer: RawAnswer) => void;
  reject: (error: Error) => void;
}

/** One HTTP/2 connection carrying many unary calls at once. */
export class RawH2Connection {
  private nextStream = 1;
  private readonly pending = new Map<number, Pending>();
  private buffered: Buffer = Buffer.alloc(0);
  /** How much DATA the server still accepts on the connection (its flow control). */
  private sendWindow = 65_535;
  private readonly waiting: { stream: number; body: Buffer }[] = [];
  /** DATA received since the last WINDOW_UPDATE sent. */
  private consumed = 0;
  private failed: Error | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => this.read(chunk));
    socket.on("error", (error) => this.fail(error));
    socket.on("close", () => this.fail(new Error("the connection closed")));
  }

  static open(host: string, port: number): Promise<RawH2Connection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port, noDelay: true });
      socket.once("error", reject);
      socket.once("connect", () => {
        socket.off("error", reject);
        const settings = Buffer.alloc(18);
        settings.writeUInt16BE(0x1, 0); // HEADER_TABLE_SIZE 0: no dynamic table, fixed bytes
        settings.writeUInt32BE(0, 2);
        settings.writeUInt16BE(0x2, 6); // ENABLE_PUSH 0
        settings.writeUInt32BE(0, 8);
        settings.writeUInt16BE(0x4, 12); // INITIAL_WINDOW_SIZE: answers never wait for us
        settings.writeUInt32BE(MAX_WINDOW, 14);
        const increment = Buffer.alloc(4);
        increment.writeUInt32BE(MAX_WINDOW - 65_535, 0);
        socket.write(
          Buffer.concat([
            PREFACE,
            frame(SETTINGS, 0, 0, settings),
            frame(WINDOW_UPDATE, 0, 0, increment),
          ]),
        );
        resolve(new RawH2Connection(socket));
      });
    });
  }

  /** One unary call: the header block, then the body (one framed gRPC message). */
  call(headerBlock: Buffer, body: Buffer): Promise<RawAnswer> {
    if (this.failed) return Promise.reject(this.failed);
    if (body.length > 65_535) throw new Error("a body over the default stream window");
    const stream = this.nextStream;
    this.nextStream += 2;
    return new Promise((resolve, reject) => {
      this.pending.set(stream, { data: [], block: [], resolve, reject });
      this.socket.write(frame(HEADERS, END_HEADERS, stream, headerBlock));
      this.waiting.push({ stream, body });
      this.flush();
    });
  }

  close(): void {
    this.socket.end();
  }

  /** Writes the bodies the connection window allows, in order. */
  private flush(): void {
    while (this.waiting.length > 0 && this.waiting[0].body.length <= this.sendWindow) {
      const { stream, body } = this.waiting.shift()!;
      this.sendWindow -= body.length;
      const frames: Buffer[] = [];
      for (let at = 0; at < body.length || at === 0; at += MAX_FRAME) {
        const end = Math.min(body.length, at + MAX_FRAME);
        frames.push(
          frame(DATA, end === body.length ? END_STREAM : 0, stream, body.subarray(at, end)),
        );
        if (end === body.length) break;
      }
      this.socket.write(frames.length === 1 ? frames[0] : Buffer.concat(frames));
    }
  }

  private read(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    let at = 0;
    while (this.buffered.length - at >= 9) {
      const length = this.buffered.readUIntBE(at, 3);
      if (this.buffered.length - at < 9 + length) break;
      const type = this.buffered[at + 3];
      const flags = this.buffered[at + 4];
      const stream = this.buffered.readUInt32BE(at + 5) & 0x7fffffff;
      this.onFrame(type, flags, stream, this.buffered.subarray(at + 9, at + 9 + length));
      at += 9 + length;
    }
    this.buffered = at === this.buffered.length ? Buffer.alloc(0) : this.buffered.subarray(at);
  }

  private onFrame(type: number, flags: number, stream: number, payload: Buffer): void {
    switch (type) {
      case SETTINGS:
        if (!(flags & ACK)) this.socket.write(frame(SETTINGS, ACK, 0, Buffer.alloc(0)));
        return;
      case PING:
        if (!(flags & ACK)) this.socket.write(frame(PING, ACK, 0, payload));
        return;
      case WINDOW_UPDATE:
        if (stream === 0) {
          this.sendWindow += payload.readUInt32BE(0) & 0x7fffffff;
          this.flush();
        }
        return;
      case GOAWAY:
        this.fail(new Error(`GOAWAY, error code ${payload.readUInt32BE(4)}`));
        return;
      case RST_STREAM:
        this.end(stream, new Error(`RST_STREAM, error code ${payload.readUInt32BE(0)}`));
        return;
      case DATA: {
        this.consumed += payload.length;
        if (this.consumed > 2 ** 30) {
          const increment = Buffer.alloc(4);
          increment.writeUInt32BE(this.consumed, 0);
          this.socket.write(frame(WINDOW_UPDATE, 0, 0, increment));
          this.consumed = 0;
        }
        const pending = this.pending.get(stream);
        pending?.data.push(Buffer.from(unpadded(flags, payload)));
        if (flags & END_STREAM) this.end(stream, new Error("the answer ended without trailers"));
        return;
      }
      case HEADERS:
      case CONTINUATION: {
        const pending = this.pending.get(stream);
        if (!pending) return;
        let block = payload;
        if (type === HEADERS) {
          block = unpadded(flags, payload);
          if (flags & PRIORITY) block = block.subarray(5);
          pending.block.length = 0;
          if (flags & END_STREAM) pending.block.push(Buffer.from([END_STREAM]));
        }
        // Only the block that ends the stream (the trailers) is kept.
        if (pending.block.length > 0) pending.block.push(Buffer.from(block));
        if (flags & END_HEADERS && pending.block.length > 0) {
          this.pending.delete(stream);
          pending.resolve({
            data: Buffer.concat(pending.data),
            trailers: Buffer.concat(pending.block.slice(1)),
          });
        }
        return;
      }
      default:
        return;
    }
  }

  private end(stream: number, error: Error): void {
    const pending = this.pending.get(stream);
    if (!pending) return;
    this.pending.delete(stream);
    pending.reject(error);
  }

  private fail(error: Error): void {
    this.failed ??= error;
    for (const [stream] of this.pending) this.end(stream, error);
    this.waiting.length = 0;
  }
}

function unpadded(flags: number, payload: Buffer): Buffer {
  if (!(flags & PADDED)) return payload;
  return payload.subarray(1, payload.length - payload[0]);
}
