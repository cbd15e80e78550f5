import { decodeHuffman } from "./huffman.js";

/**
 * HPACK (RFC 7541) for the gRPC port's HTTP/2 layer: a strict decoder for the header blocks
 * clients send, and an encoder for our answers that never uses the dynamic table.
 *
 * Header names and values are octets (RFC 9113 §8.2); they are held as latin1 strings, one char
 * per octet, so a string's length is its size in octets and every size below is `.length`.
 */

/** A malformed header block: the connection fails with COMPRESSION_ERROR (RFC 9113 §4.3). */
export class HpackError extends Error {
  override readonly name = "HpackError";
}

/** One header field as decoded: [name, value]. */
export type HeaderField = [name: string, value: string];

/** RFC 7541 Appendix A; index 1 is STATIC_TABLE[0]. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];
const STATIC_COUNT = STATIC_TABLE.length; // 61

// Flat, 1-based copies: the indexed-field path reads two array slots, not a tuple.
const STATIC_NAMES: string[] = ["", ...STATIC_TABLE.map(([name]) => name)];
const STATIC_VALUES: string[] = ["", ...STATIC_TABLE.map(([, value]) => value)];

/** Every entry costs its octets plus 32 (RFC 7541 §4.1). */
const ENTRY_OVERHEAD = 32;

/** SETTINGS_HEADER_TABLE_SIZE's initial value (RFC 9113 §6.5.2): the peer's table before any update. */
const PROTOCOL_INITIAL_TABLE_SIZE = 4096;

/**
 * The largest integer we accept anywhere in a block (lengths, indexes, sizes). Nothing legitimate
 * comes near it, and it keeps every integer exact without a big-number path.
 */
const MAX_INTEGER = 2 ** 31 - 1;

/** 2^31 needs five continuation octets after a full prefix; more can only be padding or abuse. */
const MAX_CONTINUATION_OCTETS = 5;

/** Buffer's latin1 slicer: typed here because @types/node leaves it out; the fastest octets→string. */
type Latin1Buffer = Buffer & { latin1Slice(start: number, end: number): string };

function asBuffer(block: Uint8Array): Latin1Buffer {
  return (
    Buffer.isBuffer(block) ? block : Buffer.from(block.buffer, block.byteOffset, block.byteLength)
  ) as Latin1Buffer;
}

/**
 * The decoding side of one connection's HPACK context: the peer's dynamic table, kept as a ring of
 * decoded strings (newest at `head - 1`), so an indexed field costs two array reads and its pair.
 */
export class HpackDecoder {
  /** Our SETTINGS_HEADER_TABLE_SIZE: the largest size update the peer may send. */
  private readonly ceiling: number;
  /** The table's current maximum size, as the peer's last size update set it. */
  private maxSize: number;
  /** The table's current size: the sum of its entries' sizes. */
  private size = 0;
  private names: string[] = new Array<string>(16).fill("");
  private values: string[] = new Array<string>(16).fill("");
  /** Ring capacity - 1 (a power of two - 1); grown by doubling, bounded by maxSize / 32 entries. */
  private mask = 15;
  /** The slot the next entry goes to. */
  private head = 0;
  private count = 0;

  // The block being decoded, and the read position, shared with integer() and string().
  private buf: Latin1Buffer = Buffer.alloc(0) as Latin1Buffer;
  private pos = 0;
  private end = 0;

  /** maxTableSize: our SETTINGS_HEADER_TABLE_SIZE, the ceiling of the peer's dynamic table size updates (default 4096). */
  constructor(maxTableSize = PROTOCOL_INITIAL_TABLE_SIZE) {
    if (!Number.isInteger(maxTableSize) || maxTableSize < 0 || maxTableSize > MAX_INTEGER)
      throw new RangeError(
        `HPACK table size must be an integer in [0, 2^31 - 1], got ${maxTableSize}`,
      );
    this.ceiling = maxTableSize;
    // The peer's encoder starts at the protocol's 4096 and grows only through a size update, so a
    // larger ceiling does not enlarge the table by itself. A smaller ceiling starts the table at
    // the ceiling (as RFC 7541 Appendix C.5 assumes): a peer that fills more than that before it
    // has seen our SETTINGS desynchronises, so the h2 layer should advertise at least 4096.
    this.maxSize = Math.min(maxTableSize, PROTOCOL_INITIAL_TABLE_SIZE);
  }

  /** The dynamic table's current size in octets (RFC 7541 §4.1), for diagnostics and tests. */
  get dynamicTableSize(): number {
    return this.size;
  }

  /**
   * Decodes one complete header block (HEADERS + CONTINUATION payloads already joined, padding and
   * priority already removed). Always processes the whole block so the dynamic table stays in sync,
   * then returns the fields in order, or `null` when the decoded list's size (RFC 9113 §6.5.2: sum of
   * name length + value length + 32 per field, in octets) exceeds maxListSize (the caller then refuses
   * that request only). Throws HpackError on malformed input.
   */
  decode(block: Uint8Array, maxListSize: number): HeaderField[] | null {
    const buf = asBuffer(block);
    this.buf = buf;
    this.pos = 0;
    this.end = buf.length;
    const fields: HeaderField[] = [];
    let listSize = 0;
    // §4.2: size updates only before the first field of a block.
    let fieldSeen = false;
    try {
      while (this.pos < this.end) {
        const octet = buf[this.pos];
        let name: string;
        let value: string;
        if (octet & 0x80) {
          // §6.1 indexed field. Index < 127 fits the prefix: the common case, read inline.
          let index = octet & 0x7f;
          if (index === 0x7f) index = this.integer(0x7f);
          else this.pos++;
          if (index === 0) throw new HpackError("HPACK: indexed field with index 0");
          if (index <= STATIC_COUNT) {
            name = STATIC_NAMES[index];
            value = STATIC_VALUES[index];
          } else {
            const slot = this.slot(index);
            name = this.names[slot];
            value = this.values[slot];
          }
        } else if (octet & 0x40) {
          // §6.2.1 literal with incremental indexing.
          name = this.literalName(0x3f);
          value = this.string();
          this.insert(name, value);
        } else if (octet & 0x20) {
          // §6.3 dynamic table size update.
          if (fieldSeen)
            throw new HpackError("HPACK: dynamic table size update after a header field");
          this.resize(this.integer(0x1f));
          continue;
        } else {
          // §6.2.2 without indexing (0000) and §6.2.3 never indexed (0001): the same for a
          // decoder; "never indexed" binds intermediaries re-encoding the field, which we are not.
          name = this.literalName(0x0f);
          value = this.string();
        }
        fieldSeen = true;
        listSize += name.length + value.length + ENTRY_OVERHEAD;
        // Past the limit, fields are still decoded (the table must follow) but no longer kept.
        if (listSize <= maxListSize) fields.push([name, value]);
      }
    } finally {
      // Do not pin the caller's block until the next call.
      this.buf = EMPTY;
    }
    return listSize <= maxListSize ? fields : null;
  }

  /**
   * Reads an integer (§5.1) whose prefix is the low bits `prefix` (2^N - 1) of the octet at pos.
   * Refuses a value over 2^31 - 1 and more than five continuation octets, so a hostile run of
   * 0xff octets costs a bounded loop and never loses precision.
   */
  private integer(prefix: number): number {
    const buf = this.buf;
    let pos = this.pos;
    let value = buf[pos++] & prefix;
    if (value === prefix) {
      let multiplier = 1;
      for (let octets = 0; ; octets++) {
        if (octets === MAX_CONTINUATION_OCTETS)
          throw new HpackError("HPACK: integer with too many continuation octets");
        if (pos >= this.end) throw new HpackError("HPACK: block ends inside an integer");
        const next = buf[pos++];
        value += (next & 0x7f) * multiplier;
        if (value > MAX_INTEGER) throw new HpackError("HPACK: integer over 2^31 - 1");
        if ((next & 0x80) === 0) break;
        multiplier *= 128;
      }
    }
    this.pos = pos;
    return value;
  }

  /** A string literal (§5.2): a length with the Huffman flag, then that many octets. */
  private string(): string {
    if (this.pos >= this.end) throw new HpackError("HPACK: block ends before a string");
    const huffman = this.buf[this.pos] & 0x80;
    const length = this.integer(0x7f);
    const start = this.pos;
    if (length > this.end - start) throw new HpackError("HPACK: string runs past the block");
    this.pos = start + length;
    if (!huffman) return this.buf.latin1Slice(start, this.pos);
    const decoded = decodeHuffman(this.buf, start, this.pos);
    if (decoded === null)
      throw new HpackError("HPACK: invalid Huffman string (EOS, or padding not 0-7 one bits)");
    return decoded;
  }

  /** A literal field's name: by index when the prefix is non-zero, else a string literal. */
  private literalName(prefix: number): string {
    const index = this.integer(prefix);
    if (index === 0) return this.string();
    if (index <= STATIC_COUNT) return STATIC_NAMES[index];
    return this.names[this.slot(index)];
  }

  /** The ring slot of a dynamic table index (62 = newest); refuses an index past the table. */
  private slot(index: number): number {
    const age = index - STATIC_COUNT - 1;
    if (age >= this.count)
      throw new HpackError(
        `HPACK: index ${index} past the tables (${STATIC_COUNT} static + ${this.count} dynamic)`,
      );
    return (this.head - 1 - age) & this.mask;
  }

  /** §4.4: evict from the oldest until the entry fits; an entry larger than the table empties it. */
  private insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > this.maxSize) {
      this.evictTo(0);
      return;
    }
    this.evictTo(this.maxSize - size);
    if (this.count > this.mask) this.grow();
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.head = (this.head + 1) & this.mask;
    this.count++;
    this.size += size;
  }

  /** §4.3 / §6.3: a new maximum size, at most our SETTINGS_HEADER_TABLE_SIZE. */
  private resize(maxSize: number): void {
    if (maxSize > this.ceiling)
      throw new HpackError(
        `HPACK: dynamic table size update to ${maxSize}, over our SETTINGS_HEADER_TABLE_SIZE ${this.ceiling}`,
      );
    this.maxSize = maxSize;
    this.evictTo(maxSize);
  }

  private evictTo(limit: number): void {
    while (this.size > limit) {
      const oldest = (this.head - this.count) & this.mask;
      this.size -= this.names[oldest].length + this.values[oldest].length + ENTRY_OVERHEAD;
      // Drop the references so evicted strings can be collected.
      this.names[oldest] = "";
      this.values[oldest] = "";
      this.count--;
    }
  }

  /** Doubles the ring, oldest entry first at slot 0. Entries are >= 32 octets, so this is bounded. */
  private grow(): void {
    const capacity = (this.mask + 1) * 2;
    const names = new Array<string>(capacity).fill("");
    const values = new Array<string>(capacity).fill("");
    for (let i = 0; i < this.count; i++) {
      const from = (this.head - this.count + i) & this.mask;
      names[i] = this.names[from];
      values[i] = this.values[from];
    }
    this.names = names;
    this.values = values;
    this.mask = capacity - 1;
    this.head = this.count;
  }
}

const EMPTY = Buffer.alloc(0) as Latin1Buffer;

/** Per static name: its first index (for a literal with an indexed name) and its full matches. */
const STATIC_LOOKUP = new Map<string, { index: number; values: Map<string, number> }>();
STATIC_TABLE.forEach(([name, value], i) => {
  let entry = STATIC_LOOKUP.get(name);
  if (entry === undefined) {
    entry = { index: i + 1, values: new Map() };
    STATIC_LOOKUP.set(name, entry);
  }
  if (!entry.values.has(value)) entry.values.set(value, i + 1);
});

/** Reused output space; answers are small, and the result is copied out at the exact size. */
let encodeScratch = Buffer.allocUnsafe(1024);
const ENCODE_SCRATCH_KEEP = 64 * 1024;

/** Writes integer `value` (§5.1) with an N-bit prefix (`prefix` = 2^N - 1) under `flags`. */
function writeInteger(
  out: Buffer,
  pos: number,
  value: number,
  prefix: number,
  flags: number,
): number {
  if (value < prefix) {
    out[pos++] = flags | value;
    return pos;
  }
  out[pos++] = flags | prefix;
  value -= prefix;
  while (value >= 128) {
    out[pos++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  out[pos++] = value;
  return pos;
}

/** Writes a plain (non-Huffman) string literal; refuses a char that is not one octet. */
function writeString(out: Buffer, pos: number, text: string): number {
  pos = writeInteger(out, pos, text.length, 0x7f, 0);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff)
      throw new RangeError(`HPACK: header text must be latin1 octets, got U+${code.toString(16)}`);
    out[pos++] = code;
  }
  return pos;
}

/**
 * Our answer's header block: a static-table full match is an indexed field (e.g. ":status: 200"
 * → 0x88), else a literal without indexing (name by static index when the static table has the
 * name, else a literal name); no Huffman, no dynamic table (so the peer's table size never
 * matters). Names are lowercase already. Values are latin1/ASCII strings.
 */
export function encodeHeaderBlock(fields: readonly (readonly [string, string])[]): Buffer {
  // Worst case per field: a one-octet representation prefix plus a name index (5 more), then two
  // lengths of up to 5 continuation octets each, plus the octets themselves.
  let bound = 0;
  for (const [name, value] of fields) bound += name.length + value.length + 18;
  let out = encodeScratch;
  if (bound > out.length) {
    out = Buffer.allocUnsafe(bound);
    // A rare huge block (a long grpc-message) is not kept for the process's life.
    if (bound <= ENCODE_SCRATCH_KEEP) encodeScratch = out;
  }
  let pos = 0;
  for (const [name, value] of fields) {
    const known = STATIC_LOOKUP.get(name);
    if (known === undefined) {
      out[pos++] = 0x00; // literal without indexing, new name (§6.2.2)
      pos = writeString(out, pos, name);
    } else {
      const full = known.values.get(value);
      if (full !== undefined) {
        pos = writeInteger(out, pos, full, 0x7f, 0x80); // indexed field (§6.1)
        continue;
      }
      pos = writeInteger(out, pos, known.index, 0x0f, 0x00); // literal without indexing, indexed name
    }
    pos = writeString(out, pos, value);
  }
  const block = Buffer.allocUnsafe(pos);
  out.copy(block, 0, 0, pos);
  return block;
}
