/**
 * A minimal Parquet encoder for the prediction log's part files: one row group, one
 * uncompressed PLAIN page per column (constant text columns dictionary-encoded), written from
 * the writer's typed arrays with a few memory copies. It replaces staging the rows as CSV text
 * for DuckDB to parse: the CSV text and its parsing were most of what logging cost a request.
 * Parts are small and short-lived (compaction.ts merges an hour's parts into one compressed
 * file with DuckDB), so neither compression nor statistics are worth their CPU here.
 *
 * Format: https://github.com/apache/parquet-format (parquet.thrift, Thrift compact protocol).
 */

/** A column's values as the writer holds them. Numbers: NaN is NULL. */
export type PartColumn =
  | { kind: "double"; name: string; values: Float64Array }
  | { kind: "float"; name: string; values: Float64Array }
  | { kind: "int64"; name: string; values: Float64Array }
  | { kind: "int32"; name: string; values: Float64Array }
  /** Milliseconds since the epoch, stored as a TIMESTAMP (microseconds, not UTC-adjusted). */
  | { kind: "timestamp"; name: string; values: Float64Array }
  /** 0 false, 1 true, anything else NULL. */
  | { kind: "boolean"; name: string; values: Uint8Array }
  /** Strings; a number n is written as `numberPrefix + n` (ids drawn by the writer); null is NULL. */
  | {
      kind: "string";
      name: string;
      values: ReadonlyArray<string | number | null>;
      numberPrefix?: string;
    }
  /** The same text in every row (model, version, mode): a one-entry dictionary. */
  | { kind: "constant"; name: string; value: string };

// parquet.thrift enums
const TYPE = { BOOLEAN: 0, INT32: 1, INT64: 2, FLOAT: 4, DOUBLE: 5, BYTE_ARRAY: 6 } as const;
const OPTIONAL = 1;
const ENCODING = { PLAIN: 0, PLAIN_DICTIONARY: 2, RLE: 3, RLE_DICTIONARY: 8 } as const;
const PAGE = { DATA: 0, DICTIONARY: 2 } as const;
const CONVERTED_UTF8 = 0;
const CONVERTED_INT_32 = 17;
const CONVERTED_INT_64 = 18;

// Thrift compact protocol field types
const CT = { TRUE: 1, FALSE: 2, I32: 5, I64: 6, BINARY: 8, LIST: 9, STRUCT: 12 } as const;

/** Thrift compact protocol output, just what parquet.thrift's metadata needs. */
class Thrift {
  private bytes: number[] = [];
  private lastField: number[] = [0];

  private varint(value: number): void {
    // Values here stay below 2^53: divide instead of shifting (shifts are 32-bit).
    let n = value;
    while (n >= 0x80) {
      this.bytes.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    this.bytes.push(n);
  }

  private field(id: number, type: number): void {
    const last = this.lastField[this.lastField.length - 1];
    const delta = id - last;
    if (delta > 0 && delta <= 15) this.bytes.push((delta << 4) | type);
    else {
      this.bytes.push(type);
      this.varint(id >= 0 ? id * 2 : -id * 2 - 1);
    }
    this.lastField[this.lastField.length - 1] = id;
  }

  i32(id: number, value: number): this {
    this.field(id, CT.I32);
    this.varint(value >= 0 ? value * 2 : -value * 2 - 1);
    return this;
  }

  i64(id: number, value: number): this {
    this.field(id, CT.I64);
    this.varint(value >= 0 ? value * 2 : -value * 2 - 1);
    return this;
  }

  bool(id: number, value: boolean): this {
    this.field(id, value ? CT.TRUE : CT.FALSE);
    return this;
  }

  string(id: number, value: string): this {
    this.field(id, CT.BINARY);
    this.rawString(value);
    return this;
  }

  private rawString(value: string): void {
    const encoded = Buffer.from(value, "utf8");
    this.varint(encoded.length);
    for (const byte of encoded) this.bytes.push(byte);
  }

  /** A struct field; `body` writes its fields. */
  struct(id: number, body: (t: this) => void): this {
    this.field(id, CT.STRUCT);
    this.inStruct(body);
    return this;
  }

  private inStruct(body: (t: this) => void): void {
    this.lastField.push(0);
    body(this);
    this.bytes.push(0); // stop
    this.lastField.pop();
  }

  private listHeader(id: number, size: number, type: number): void {
    this.field(id, CT.LIST);
    if (size < 15) this.bytes.push((size << 4) | type);
    else {
      this.bytes.push(0xf0 | type);
      this.varint(size);
    }
  }

  structList<T>(id: number, items: readonly T[], body: (t: this, item: T) => void): this {
    this.listHeader(id, items.length, CT.STRUCT);
    for (const item of items) this.inStruct((t) => body(t, item));
    return this;
  }

  i32List(id: number, items: readonly number[]): this {
    this.listHeader(id, items.length, CT.I32);
    for (const item of items) this.varint(item >= 0 ? item * 2 : -item * 2 - 1);
    return this;
  }

  stringList(id: number, items: readonly string[]): this {
    this.listHeader(id, items.length, CT.BINARY);
    for (const item of items) this.rawString(item);
    return this;
  }

  /** The top-level struct written so far, closed. */
  end(): Buffer {
    this.bytes.push(0);
    return Buffer.from(this.bytes);
  }
}

/** Grows as bytes are written; numbers go through a DataView of the current chunk. */
class Out {
  buffer: Buffer;
  offset = 0;
  constructor(size: number) {
    this.buffer = Buffer.allocUnsafe(Math.max(size, 64));
  }
  ensure(extra: number): void {
    if (this.offset + extra <= this.buffer.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.offset + extra));
    this.buffer.copy(next, 0, 0, this.offset);
    this.buffer = next;
  }
  byte(value: number): void {
    this.ensure(1);
    this.buffer[this.offset++] = value;
  }
  varint(value: number): void {
    let n = value;
    while (n >= 0x80) {
      this.byte((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    this.byte(n);
  }
  bytes(data: Uint8Array): void {
    this.ensure(data.length);
    this.buffer.set(data, this.offset);
    this.offset += data.length;
  }
}

/**
 * Definition levels of an OPTIONAL flat column (1 present, 0 NULL) in the RLE/bit-packed
 * hybrid, as runs (a page of all-present values is one run of two bytes), with its 4-byte
 * length prefix.
 */
function writeLevels(out: Out, rows: number, present: (row: number) => boolean): void {
  const start = out.offset;
  out.ensure(4);
  out.offset += 4;
  let row = 0;
  while (row < rows) {
    const value = present(row);
    let end = row + 1;
    while (end < rows && present(end) === value) end++;
    out.varint((end - row) * 2);
    out.byte(value ? 1 : 0);
    row = end;
  }
  out.buffer.writeUInt32LE(out.offset - start - 4, start);
}

/**
 * A BYTE_ARRAY value: 4-byte length, then the UTF-8 bytes. Short ASCII texts (ids) are copied
 * byte by byte, which costs less than a Buffer.write call per value.
 */
function writeText(out: Out, text: string): void {
  const n = text.length;
  out.ensure(4 + n * 3);
  const { buffer } = out;
  const start = out.offset + 4;
  let length = n;
  for (let i = 0; i < n; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80) {
      length = buffer.write(text, start, "utf8");
      break;
    }
    buffer[start + i] = code;
  }
  buffer.writeUInt32LE(length, out.offset);
  out.offset = start + length;
}

/** `prefix` then the decimal digits of a non-negative integer, as one BYTE_ARRAY value. */
function writeNumberText(out: Out, prefix: Buffer, value: number): void {
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  const length = prefix.length + digits;
  out.ensure(4 + length);
  const { buffer } = out;
  buffer.writeUInt32LE(length, out.offset);
  prefix.copy(buffer, out.offset + 4);
  let at = out.offset + 4 + length;
  let rest = value;
  for (let i = 0; i < digits; i++) {
    const next = Math.floor(rest / 10);
    buffer[--at] = 48 + rest - next * 10;
    rest = next;
  }
  out.offset += 4 + length;
}

interface Chunk {
  column: PartColumn;
  physical: number;
  /** Offsets of its pages in the file, and its byte size. */
  dictionaryOffset?: number;
  dataOffset: number;
  size: number;
  encodings: number[];
}

function physicalType(column: PartColumn): number {
  switch (column.kind) {
    case "double":
      return TYPE.DOUBLE;
    case "float":
      return TYPE.FLOAT;
    case "int64":
    case "timestamp":
      return TYPE.INT64;
    case "int32":
      return TYPE.INT32;
    case "boolean":
      return TYPE.BOOLEAN;
    default:
      return TYPE.BYTE_ARRAY;
  }
}

/** Page header of a data page v1 (or a dictionary page) of `size` bytes. */
function pageHeader(kind: "data" | "dictionary", values: number, size: number, encoding: number) {
  const t = new Thrift()
    .i32(1, kind === "data" ? PAGE.DATA : PAGE.DICTIONARY)
    .i32(2, size)
    .i32(3, size);
  if (kind === "data")
    t.struct(5, (h) => h.i32(1, values).i32(2, encoding).i32(3, ENCODING.RLE).i32(4, ENCODING.RLE));
  else t.struct(7, (h) => h.i32(1, values).i32(2, ENCODING.PLAIN_DICTIONARY));
  return t.end();
}

/** The page body (levels, then values) of a column. */
function pageBody(column: Exclude<PartColumn, { kind: "constant" }>, rows: number): Buffer {
  const perValue =
    column.kind === "boolean" ? 1 : column.kind === "int32" || column.kind === "float" ? 4 : 8;
  const out = new Out(16 + rows * (column.kind === "string" ? 24 : perValue));
  switch (column.kind) {
    case "string": {
      const { values } = column;
      const prefix = Buffer.from(column.numberPrefix ?? "", "utf8");
      writeLevels(out, rows, (row) => values[row] !== null);
      for (let row = 0; row < rows; row++) {
        const value = values[row];
        if (value === null) continue;
        if (typeof value === "number") writeNumberText(out, prefix, value);
        else writeText(out, value);
      }
      break;
    }
    case "boolean": {
      const { values } = column;
      writeLevels(out, rows, (row) => values[row] <= 1);
      // Bit-packed, least significant bit first, present values only.
      out.ensure(Math.ceil(rows / 8));
      let bit = 0;
      let byte = 0;
      for (let row = 0; row < rows; row++) {
        const value = values[row];
        if (value > 1) continue;
        if (value === 1) byte |= 1 << bit;
        if (++bit === 8) {
          out.buffer[out.offset++] = byte;
          bit = 0;
          byte = 0;
        }
      }
      if (bit > 0) out.buffer[out.offset++] = byte;
      break;
    }
    default: {
      const { values } = column;
      writeLevels(out, rows, (row) => !Number.isNaN(values[row]));
      out.ensure(rows * perValue);
      const view = new DataView(out.buffer.buffer, out.buffer.byteOffset, out.buffer.length);
      let offset = out.offset;
      for (let row = 0; row < rows; row++) {
        const value = values[row];
        if (Number.isNaN(value)) continue;
        if (column.kind === "double") view.setFloat64(offset, value, true);
        else if (column.kind === "float") view.setFloat32(offset, value, true);
        else if (column.kind === "int32") view.setInt32(offset, value, true);
        else {
          // INT64 from a double (exact below 2^53): low and high 32-bit halves.
          const n = column.kind === "timestamp" ? Math.round(value * 1000) : Math.trunc(value);
          const high = Math.floor(n / 0x1_0000_0000);
          view.setUint32(offset, n - high * 0x1_0000_0000, true);
          view.setInt32(offset + 4, high, true);
        }
        offset += perValue;
      }
      out.offset = offset;
    }
  }
  return out.buffer.subarray(0, out.offset);
}

/**
 * The Parquet file of `rows` rows of `columns`, with `metadata` in its footer, as buffers to
 * write one after the other.
 */
export function encodeParquetPart(
  columns: readonly PartColumn[],
  rows: number,
  metadata: Record<string, string>,
): Buffer[] {
  const parts: Buffer[] = [Buffer.from("PAR1")];
  let offset = 4;
  const push = (buffer: Buffer) => {
    parts.push(buffer);
    offset += buffer.length;
  };
  const chunks: Chunk[] = [];
  for (const column of columns) {
    const start = offset;
    if (column.kind === "constant") {
      const text = Buffer.from(column.value, "utf8");
      const dictionary = Buffer.allocUnsafe(4 + text.length);
      dictionary.writeUInt32LE(text.length, 0);
      text.copy(dictionary, 4);
      push(pageHeader("dictionary", 1, dictionary.length, ENCODING.PLAIN_DICTIONARY));
      push(dictionary);
      const dataOffset = offset;
      const out = new Out(32);
      writeLevels(out, rows, () => true);
      out.byte(1); // bit width of the indexes; one RLE run of index 0
      out.varint(rows * 2);
      out.byte(0);
      const body = out.buffer.subarray(0, out.offset);
      push(pageHeader("data", rows, body.length, ENCODING.RLE_DICTIONARY));
      push(body);
      chunks.push({
        column,
        physical: TYPE.BYTE_ARRAY,
        dictionaryOffset: start,
        dataOffset,
        size: offset - start,
        encodings: [ENCODING.PLAIN_DICTIONARY, ENCODING.RLE, ENCODING.RLE_DICTIONARY],
      });
      continue;
    }
    const body = pageBody(column, rows);
    push(pageHeader("data", rows, body.length, ENCODING.PLAIN));
    push(body);
    chunks.push({
      column,
      physical: physicalType(column),
      dataOffset: start,
      size: offset - start,
      encodings: [ENCODING.PLAIN, ENCODING.RLE],
    });
  }
  const totalSize = chunks.reduce((sum, chunk) => sum + chunk.size, 0);
  const footer = new Thrift()
    .i32(1, 1)
    .structList(2, [undefined, ...chunks], (t, chunk) => {
      if (chunk === undefined) {
        t.string(4, "schema").i32(5, chunks.length);
        return;
      }
      const { column, physical } = chunk;
      t.i32(1, physical).i32(3, OPTIONAL).string(4, column.name);
      if (column.kind === "string" || column.kind === "constant")
        t.i32(6, CONVERTED_UTF8).struct(10, (l) => l.struct(1, () => undefined));
      else if (column.kind === "int32") t.i32(6, CONVERTED_INT_32);
      else if (column.kind === "int64") t.i32(6, CONVERTED_INT_64);
      else if (column.kind === "timestamp")
        // LogicalType.TIMESTAMP { isAdjustedToUTC: false, unit: MICROS }: DuckDB's TIMESTAMP.
        t.struct(10, (l) =>
          l.struct(8, (ts) =>
            ts.bool(1, false).struct(2, (unit) => unit.struct(2, () => undefined)),
          ),
        );
    })
    .i64(3, rows)
    .structList(4, [chunks], (t, list) => {
      t.structList(1, list, (c, chunk) => {
        c.i64(2, chunk.dataOffset).struct(3, (m) => {
          m.i32(1, chunk.physical)
            .i32List(2, chunk.encodings)
            .stringList(3, [chunk.column.name])
            .i32(4, 0) // UNCOMPRESSED
            .i64(5, rows)
            .i64(6, chunk.size)
            .i64(7, chunk.size)
            .i64(9, chunk.dataOffset);
          if (chunk.dictionaryOffset !== undefined) m.i64(11, chunk.dictionaryOffset);
        });
      })
        .i64(2, totalSize)
        .i64(3, rows);
    })
    .structList(5, Object.entries(metadata), (t, [key, value]) => t.string(1, key).string(2, value))
    .string(6, "mldeploy prediction log")
    .end();
  parts.push(footer);
  const tail = Buffer.alloc(8);
  tail.writeUInt32LE(footer.length, 0);
  tail.write("PAR1", 4, "latin1");
  parts.push(tail);
  return parts;
}
