import { malformed } from "./errors.js";
import type { ImportError } from "../types.js";

/**
 * Bounds-checked reads over the bytes of one pickle stream. Every length a file claims is
 * compared with what remains before anything is allocated, so a 4-byte file claiming 2^60
 * bytes is a clear "truncated" error, never an allocation.
 */
export class Cursor {
  pos = 0;

  constructor(
    readonly bytes: Uint8Array,
    readonly source: string,
    /** Added to offsets in messages ("byte N of the decompressed stream" reads the same). */
    readonly where = "",
  ) {}

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  fail(what: string, offset = this.pos): ImportError {
    return malformed(this.source, offset, what + this.where);
  }

  private need(n: number, what: string): void {
    if (n > this.remaining) {
      throw this.fail(
        `${what} needs ${n} bytes but only ${this.remaining} remain (the file is truncated or not a pickle)`,
      );
    }
  }

  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.pos++];
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.bytes[this.pos] | (this.bytes[this.pos + 1] << 8);
    this.pos += 2;
    return v;
  }

  /** Little-endian uint32. */
  u32(what: string): number {
    this.need(4, what);
    const b = this.bytes;
    const p = this.pos;
    this.pos += 4;
    return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16)) + b[p + 3] * 0x1000000;
  }

  /** Little-endian int32. */
  i32(what: string): number {
    const v = this.u32(what);
    return v >= 0x80000000 ? v - 0x100000000 : v;
  }

  /** Little-endian uint64, as a number; larger than the bytes left → a truncation error. */
  u64Length(what: string): number {
    this.need(8, what);
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 8);
    const value = view.getBigUint64(0, true);
    this.pos += 8;
    if (value > BigInt(this.remaining)) {
      throw this.fail(
        `${what} claims ${value} bytes but only ${this.remaining} remain (the file is truncated or not a pickle)`,
        this.pos - 8,
      );
    }
    return Number(value);
  }

  /** A big-endian float64 (BINFLOAT). */
  f64be(what: string): number {
    this.need(8, what);
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 8);
    this.pos += 8;
    return view.getFloat64(0, false);
  }

  /** `n` bytes, a view into the stream (not a copy). */
  take(n: number, what: string): Uint8Array {
    if (n < 0) throw this.fail(`${what} has a negative length (${n})`);
    this.need(n, what);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Protocol 0's newline-terminated argument, without the newline. */
  line(what: string): Uint8Array {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0)
      throw this.fail(`${what} has no end of line (the file is truncated or not a pickle)`);
    const out = this.bytes.subarray(this.pos, end);
    this.pos = end + 1;
    return out;
  }
}

export function latin1(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

const utf8 = new TextDecoder("utf-8");

/** Python writes str as UTF-8 with surrogatepass; a lone surrogate becomes U+FFFD here. */
export function utf8Text(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}
