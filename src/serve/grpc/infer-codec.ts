import type {
  InferInputTensor,
  InferOutputTensor,
  InferRequestedOutputTensor,
  ModelInferRequest,
  ModelInferResponse,
  TensorContents,
} from "./messages.js";

/**
 * A hand-written protobuf codec for ModelInferRequest and ModelInferResponse, the messages of
 * every prediction call: @grpc/proto-loader's generic path (protobufjs decode, then toObject
 * with defaults; fromObject, then encode) took ~9 % of the server's CPU a single-row call and
 * much of its garbage (README "Benchmarks"). Each side answers undefined for what it does not
 * take on, and the caller then uses the generic path; so the result is always what the
 * generic path gives:
 * - decode takes a well-formed message of the fields mldeploy reads, and gives the same
 *   values protobufjs would; it declines anything else (parameters, unknown or repeated
 *   singular fields, another wire type, a negative or very large integer, a truncated field),
 *   which the generic path then decodes or refuses as before. The contents hold the fields
 *   the message sets (the generic path also fills the others with empty arrays, which no
 *   reader tells apart: see tensors.ts) and no `parameters`;
 * - encode writes the same bytes as the generic path (fields in number order, proto3 packed
 *   numbers, every string the object sets even when empty); it declines an int64 that is not
 *   a safe integer and a string with a lone surrogate (protobufjs writes those its own way).
 */

// Wire types (protobuf encoding spec).
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

/** Thrown inside decode when the message is not one it takes on; decode then answers undefined. */
const DECLINE = new Error("declined");

/**
 * Buffer's own UTF-8 decoder without toString's argument handling (what protobufjs's Buffer
 * reader calls too; the same text, replacement characters included).
 */
const utf8Slice = (
  Buffer.prototype as unknown as {
    utf8Slice?: (this: Buffer, start: number, end: number) => string;
  }
).utf8Slice;

class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /**
   * A varint of up to 7 bytes (values below 2^49: exact as a double, and what protobufjs
   * reads the same for int32, int64 and their unsigned forms); longer ones are declined
   * (negative numbers take 10 bytes).
   */
  varint(): number {
    const { buf, end } = this;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= end) throw DECLINE;
      const byte = buf[this.pos++];
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
    throw DECLINE;
  }

  /** A field's tag: one byte (the fields read here are numbered below 16). */
  tag(): number {
    if (this.pos >= this.end || this.buf[this.pos] >= 0x80) throw DECLINE;
    return this.buf[this.pos++];
  }

  /** The end of a length-delimited field starting here (the length read). */
  delimited(): number {
    const length = this.varint();
    const stop = this.pos + length;
    if (stop > this.end) throw DECLINE;
    return stop;
  }

  string(): string {
    const stop = this.delimited();
    const text = utf8Slice
      ? utf8Slice.call(this.buf, this.pos, stop)
      : this.buf.toString("utf8", this.pos, stop);
    this.pos = stop;
    return text;
  }

  /** A view of the bytes, as protobufjs's Buffer reader hands bytes fields over. */
  bytes(): Buffer {
    const stop = this.delimited();
    const view = this.buf.subarray(this.pos, stop);
    this.pos = stop;
    return view;
  }
}

/** The same ModelInferRequest as the generic path's, or undefined (see the top). */
export function decodeModelInferRequest(bytes: Buffer): ModelInferRequest | undefined {
  try {
    return readRequest(new Reader(bytes, 0, bytes.length));
  } catch (error) {
    if (error === DECLINE) return undefined;
    throw error;
  }
}

function readRequest(r: Reader): ModelInferRequest {
  let model_name: string | undefined;
  let model_version: string | undefined;
  let id: string | undefined;
  const inputs: InferInputTensor[] = [];
  const outputs: InferRequestedOutputTensor[] = [];
  const raw_input_contents: Buffer[] = [];
  while (r.pos < r.end) {
    const tag = r.tag();
    if ((tag & 7) !== LEN) throw DECLINE;
    switch (tag >>> 3) {
      case 1:
        if (model_name !== undefined) throw DECLINE;
        model_name = r.string();
        break;
      case 2:
        if (model_version !== undefined) throw DECLINE;
        model_version = r.string();
        break;
      case 3:
        if (id !== undefined) throw DECLINE;
        id = r.string();
        break;
      case 5:
        inputs.push(readInput(r));
        break;
      case 6:
        outputs.push(readRequestedOutput(r));
        break;
      case 7:
        raw_input_contents.push(r.bytes());
        break;
      default:
        throw DECLINE;
    }
  }
  return {
    model_name: model_name ?? "",
    model_version: model_version ?? "",
    id: id ?? "",
    inputs,
    outputs,
    raw_input_contents,
  };
}

function readInput(outer: Reader): InferInputTensor {
  const stop = outer.delimited();
  const r = new Reader(outer.buf, outer.pos, stop);
  let name: string | undefined;
  let datatype: string | undefined;
  const shape: number[] = [];
  let contents: TensorContents | null = null;
  while (r.pos < r.end) {
    const tag = r.tag();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 3) {
      readVarints(r, wire, shape);
      continue;
    }
    if (wire !== LEN) throw DECLINE;
    switch (field) {
      case 1:
        if (name !== undefined) throw DECLINE;
        name = r.string();
        break;
      case 2:
        if (datatype !== undefined) throw DECLINE;
        datatype = r.string();
        break;
      case 5:
        if (contents !== null) throw DECLINE;
        contents = readContents(r);
        break;
      default:
        throw DECLINE;
    }
  }
  outer.pos = stop;
  return { name: name ?? "", datatype: datatype ?? "", shape, contents };
}

function readRequestedOutput(outer: Reader): InferRequestedOutputTensor {
  const stop = outer.delimited();
  const r = new Reader(outer.buf, outer.pos, stop);
  let name: string | undefined;
  while (r.pos < r.end) {
    const tag = r.tag();
    if (tag !== ((1 << 3) | LEN) || name !== undefined) throw DECLINE;
    name = r.string();
  }
  outer.pos = stop;
  return { name: name ?? "" };
}

/** A repeated varint field, packed (LEN) or one element (VARINT), appended to `into`. */
function readVarints(r: Reader, wire: number, into: number[]): void {
  if (wire === VARINT) {
    into.push(r.varint());
    return;
  }
  if (wire !== LEN) throw DECLINE;
  const stop = r.delimited();
  const packed = new Reader(r.buf, r.pos, stop);
  while (packed.pos < stop) into.push(packed.varint());
  r.pos = stop;
}

/** A repeated fixed-size field (8 bytes: double, 4: float), packed or one element. */
function readFixed(r: Reader, wire: number, size: 4 | 8, into: number[]): void {
  const { buf } = r;
  if (wire === (size === 8 ? I64 : I32)) {
    if (r.pos + size > r.end) throw DECLINE;
    into.push(size === 8 ? buf.readDoubleLE(r.pos) : buf.readFloatLE(r.pos));
    r.pos += size;
    return;
  }
  if (wire !== LEN) throw DECLINE;
  const stop = r.delimited();
  if ((stop - r.pos) % size !== 0) throw DECLINE;
  for (let at = r.pos; at < stop; at += size)
    into.push(size === 8 ? buf.readDoubleLE(at) : buf.readFloatLE(at));
  r.pos = stop;
}

/** The int32 and uint32 fields: what fits 4 varint bytes (no negative int32, which takes 10). */
function readSmallVarints(r: Reader, wire: number, into: number[]): void {
  const from = into.length;
  readVarints(r, wire, into);
  for (let i = from; i < into.length; i++) if (into[i] >= 2 ** 28) throw DECLINE;
}

function readContents(outer: Reader): TensorContents {
  const stop = outer.delimited();
  const r = new Reader(outer.buf, outer.pos, stop);
  const contents: TensorContents = {};
  const numbers = (key: Exclude<keyof TensorContents, "bool_contents" | "bytes_contents">) =>
    (contents[key] ??= []);
  while (r.pos < r.end) {
    const tag = r.tag();
    const wire = tag & 7;
    switch (tag >>> 3) {
      case 1: {
        const values: number[] = [];
        readSmallVarints(r, wire, values);
        const bools = (contents.bool_contents ??= []);
        for (const value of values) bools.push(value !== 0);
        break;
      }
      case 2:
        readSmallVarints(r, wire, numbers("int_contents"));
        break;
      case 3:
        readVarints(r, wire, numbers("int64_contents"));
        break;
      case 4:
        readSmallVarints(r, wire, numbers("uint_contents"));
        break;
      case 5:
        readVarints(r, wire, numbers("uint64_contents"));
        break;
      case 6:
        readFixed(r, wire, 4, numbers("fp32_contents"));
        break;
      case 7:
        readFixed(r, wire, 8, numbers("fp64_contents"));
        break;
      case 8:
        if (wire !== LEN) throw DECLINE;
        (contents.bytes_contents ??= []).push(r.bytes());
        break;
      default:
        throw DECLINE;
    }
  }
  outer.pos = stop;
  return contents;
}

// ---- encoding ----

const LONE_SURROGATE = /[\ud800-\udfff]/;

function varintSize(value: number): number {
  let size = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

/** An int64's varint size (10 for a negative one, two's complement), or -1 to decline. */
function int64Size(value: number): number {
  if (!Number.isSafeInteger(value)) return -1;
  return value < 0 ? 10 : varintSize(value);
}

function stringSize(text: string): number {
  if (LONE_SURROGATE.test(text)) return -1;
  const length = Buffer.byteLength(text, "utf8");
  return varintSize(length) + length;
}

class Writer {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(value: number): void {
    const { buf } = this;
    while (value >= 128) {
      buf[this.pos++] = (value % 128) | 0x80;
      value = Math.floor(value / 128);
    }
    buf[this.pos++] = value;
  }

  /** A safe integer as int64: negative ones as their 64-bit two's complement (10 bytes). */
  int64(value: number): void {
    if (value >= 0) return this.varint(value);
    // -value < 2^53: the two's complement's high and low 32 bits.
    const magnitude = -value;
    let lo = magnitude >>> 0;
    let hi = ((magnitude - lo) / 2 ** 32) >>> 0;
    hi = ~hi >>> 0;
    lo = ~lo >>> 0;
    if (++lo > 0xffffffff) {
      lo = 0;
      hi = (hi + 1) >>> 0;
    }
    const { buf } = this;
    for (let i = 0; i < 4; i++) {
      buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo >>>= 7;
    }
    // Bits 28..34: lo's last 4 bits and hi's first 3.
    buf[this.pos++] = lo | ((hi & 0x7) << 4) | 0x80;
    hi >>>= 3;
    for (let i = 0; i < 4; i++) {
      buf[this.pos++] = (hi & 0x7f) | 0x80;
      hi >>>= 7;
    }
    buf[this.pos++] = hi & 0x1;
  }

  string(text: string): void {
    const length = Buffer.byteLength(text, "utf8");
    this.varint(length);
    this.pos += this.buf.write(text, this.pos, length, "utf8");
  }

  bytes(bytes: Uint8Array): void {
    this.varint(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }
}

/** What encoding one output tensor takes: its sizes, computed once. */
interface TensorPlan {
  tensor: InferOutputTensor;
  /** The packed shape's payload size. */
  shapeBytes: number;
  contentsBytes: number;
  /** The tensor message's size. */
  bytes: number;
}

type NumberField = Exclude<keyof TensorContents, "bool_contents" | "bytes_contents">;
/** InferTensorContents's numeric fields: their field number and element encoding. */
const NUMBER_FIELDS: readonly [NumberField, number, "varint" | "int64" | 4 | 8][] = [
  ["int_contents", 2, "varint"],
  ["int64_contents", 3, "int64"],
  ["uint_contents", 4, "varint"],
  ["uint64_contents", 5, "int64"],
  ["fp32_contents", 6, 4],
  ["fp64_contents", 7, 8],
];

/** The packed payload size of a numeric field's elements, or -1 to decline. */
function packedSize(values: readonly number[], encoding: "varint" | "int64" | 4 | 8): number {
  if (encoding === 4 || encoding === 8) return values.length * encoding;
  let size = 0;
  for (const value of values) {
    // int32/uint32 of a non-negative integer below 2^31 only (a negative int32 takes 10 bytes).
    const each =
      encoding === "int64"
        ? int64Size(value)
        : Number.isInteger(value) && value >= 0 && value < 2 ** 31
          ? varintSize(value)
          : -1;
    if (each < 0) return -1;
    size += each;
  }
  return size;
}

function lenField(payload: number): number {
  return 1 + varintSize(payload) + payload;
}

function contentsSize(contents: TensorContents): number {
  let size = 0;
  const { bool_contents: bools, bytes_contents: bytes } = contents;
  if (bools?.length) size += lenField(bools.length);
  for (const [key, , encoding] of NUMBER_FIELDS) {
    const values = contents[key];
    if (!values?.length) continue;
    const payload = packedSize(values, encoding);
    if (payload < 0) return -1;
    size += lenField(payload);
  }
  if (bytes) for (const element of bytes) size += lenField(element.length);
  return size;
}

function planTensor(tensor: InferOutputTensor): TensorPlan | undefined {
  const name = stringSize(tensor.name);
  const datatype = stringSize(tensor.datatype);
  const shapeBytes = packedSize(tensor.shape, "int64");
  if (name < 0 || datatype < 0 || shapeBytes < 0) return undefined;
  let bytes = 1 + name + 1 + datatype;
  if (tensor.shape.length > 0) bytes += lenField(shapeBytes);
  let contentsBytes = 0;
  if (tensor.contents) {
    contentsBytes = contentsSize(tensor.contents);
    if (contentsBytes < 0) return undefined;
    bytes += lenField(contentsBytes);
  }
  return { tensor, shapeBytes, contentsBytes, bytes };
}

/** The generic path's bytes for this response, or undefined (see the top). */
export function encodeModelInferResponse(response: ModelInferResponse): Buffer | undefined {
  const strings = [response.model_name, response.model_version, response.id];
  let size = 0;
  for (const text of strings) {
    const each = stringSize(text);
    if (each < 0) return undefined;
    size += 1 + each;
  }
  const plans: TensorPlan[] = [];
  for (const tensor of response.outputs) {
    const plan = planTensor(tensor);
    if (!plan) return undefined;
    plans.push(plan);
    size += lenField(plan.bytes);
  }
  for (const raw of response.raw_output_contents) size += lenField(raw.length);

  const w = new Writer(Buffer.allocUnsafe(size));
  strings.forEach((text, i) => {
    w.varint(((i + 1) << 3) | LEN);
    w.string(text);
  });
  for (const plan of plans) writeTensor(w, plan);
  for (const raw of response.raw_output_contents) {
    w.varint((6 << 3) | LEN);
    w.bytes(raw);
  }
  if (w.pos !== size) throw new Error(`ModelInferResponse: wrote ${w.pos} of ${size} bytes`);
  return w.buf;
}

function writeTensor(w: Writer, { tensor, shapeBytes, contentsBytes, bytes }: TensorPlan): void {
  w.varint((5 << 3) | LEN);
  w.varint(bytes);
  w.varint((1 << 3) | LEN);
  w.string(tensor.name);
  w.varint((2 << 3) | LEN);
  w.string(tensor.datatype);
  if (tensor.shape.length > 0) {
    w.varint((3 << 3) | LEN);
    w.varint(shapeBytes);
    for (const dim of tensor.shape) w.int64(dim);
  }
  const { contents } = tensor;
  if (!contents) return;
  w.varint((5 << 3) | LEN);
  w.varint(contentsBytes);
  const { bool_contents: bools, bytes_contents: elements } = contents;
  if (bools?.length) {
    w.varint((1 << 3) | LEN);
    w.varint(bools.length);
    for (const value of bools) w.buf[w.pos++] = value ? 1 : 0;
  }
  for (const [key, field, encoding] of NUMBER_FIELDS) {
    const values = contents[key];
    if (!values?.length) continue;
    w.varint((field << 3) | LEN);
    w.varint(packedSize(values, encoding));
    for (const value of values) {
      if (encoding === 8) w.pos = w.buf.writeDoubleLE(value, w.pos);
      else if (encoding === 4) w.pos = w.buf.writeFloatLE(value, w.pos);
      else w.int64(value);
    }
  }
  if (elements)
    for (const element of elements) {
      w.varint((8 << 3) | LEN);
      w.bytes(element);
    }
}
