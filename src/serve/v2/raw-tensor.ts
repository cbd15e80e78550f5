import { badRequest } from "../errors.js";
import type { OutputTensor } from "./tensors.js";

/**
 * Tensors as raw bytes, the form shared by Triton's binary tensor data extension
 * (docs/protocol/extension_binary_data.md) and the gRPC ModelInferRequest's
 * raw_input_contents / raw_output_contents (grpc_predict_v2.proto): elements row-major,
 * little-endian, with no padding; BOOL one byte per element; BYTES each element preceded by
 * its length as a 4-byte little-endian unsigned integer.
 */

/** Bytes per element of each fixed-size datatype (BYTES has none). */
export const ELEMENT_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  INT8: 1,
  UINT8: 1,
  INT16: 2,
  UINT16: 2,
  FP16: 2,
  INT32: 4,
  UINT32: 4,
  FP32: 4,
  INT64: 8,
  UINT64: 8,
  FP64: 8,
};

/** Datatypes raw bytes can carry. */
export function isRawDatatype(datatype: string): boolean {
  return datatype === "BYTES" || ELEMENT_BYTES[datatype] !== undefined;
}

/** Elements of a tensor of this shape; undefined when the shape is not a list of sizes. */
export function elementCount(shape: unknown): number | undefined {
  if (!Array.isArray(shape)) return undefined;
  let count = 1;
  for (const size of shape) {
    if (!Number.isSafeInteger(size) || (size as number) < 0) return undefined;
    count *= size as number;
  }
  return Number.isSafeInteger(count) ? count : undefined;
}

/**
 * The elements of an input tensor sent as raw bytes: numbers (a typed array), booleans or
 * strings, for batchFromTensors to check as it checks JSON data. Bytes that do not make
 * `count` elements of the datatype are a 400 naming the input.
 */
export function decodeRawTensor(
  name: string,
  datatype: string,
  count: number,
  bytes: Uint8Array,
): ArrayLike<unknown> {
  if (datatype === "BYTES") return decodeBytesElements(name, count, bytes);
  const size = ELEMENT_BYTES[datatype];
  if (size === undefined)
    throw badRequest(`input "${name}": datatype ${datatype} cannot be sent as raw data`, name);
  if (bytes.byteLength !== count * size) {
    throw badRequest(
      `input "${name}": ${bytes.byteLength} bytes of raw data do not make the ${count} elements of its shape (${datatype}: ${size} bytes each)`,
      name,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (datatype) {
    case "FP64":
      return aligned(bytes, 8)
        ? new Float64Array(bytes.buffer, bytes.byteOffset, count)
        : new Float64Array(copy(bytes));
    case "FP32":
      return aligned(bytes, 4)
        ? new Float32Array(bytes.buffer, bytes.byteOffset, count)
        : new Float32Array(copy(bytes));
    case "INT32":
      return aligned(bytes, 4)
        ? new Int32Array(bytes.buffer, bytes.byteOffset, count)
        : new Int32Array(copy(bytes));
    case "UINT32":
      return new Uint32Array(copy(bytes));
    case "INT16":
      return new Int16Array(copy(bytes));
    case "UINT16":
      return new Uint16Array(copy(bytes));
    case "INT8":
      return new Int8Array(bytes.buffer, bytes.byteOffset, count);
    case "UINT8":
      return new Uint8Array(bytes.buffer, bytes.byteOffset, count);
    case "INT64":
    case "UINT64": {
      // As numbers: a long column takes safe integers only, so anything past 2^53 is refused
      // by validation rather than rounded into another id. high * 2^32 + low is the correctly
      // rounded value, as Number(BigInt) gives it, without a BigInt per element.
      const values = new Float64Array(count);
      const signed = datatype === "INT64";
      for (let i = 0; i < count; i++) {
        const high = signed ? view.getInt32(i * 8 + 4, true) : view.getUint32(i * 8 + 4, true);
        values[i] = high * 4294967296 + view.getUint32(i * 8, true);
      }
      return values;
    }
    case "FP16": {
      const values = new Float64Array(count);
      for (let i = 0; i < count; i++) values[i] = halfToNumber(view.getUint16(i * 2, true));
      return values;
    }
    case "BOOL": {
      const values = new Array<boolean>(count);
      for (let i = 0; i < count; i++) {
        const byte = bytes[i];
        if (byte > 1)
          throw badRequest(
            `input "${name}": BOOL element ${i} is byte ${byte}, not 0 or 1`,
            name,
            i,
          );
        values[i] = byte === 1;
      }
      return values;
    }
  }
  throw badRequest(`input "${name}": datatype ${datatype} cannot be sent as raw data`, name);
}

/** BYTES elements: each a 4-byte little-endian length, then that many bytes of UTF-8. */
function decodeBytesElements(name: string, count: number, bytes: Uint8Array): string[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const values: string[] = [];
  let offset = 0;
  while (offset < bytes.byteLength) {
    if (values.length === count || offset + 4 > bytes.byteLength)
      throw badRequest(
        `input "${name}": raw BYTES data does not make the ${count} elements of its shape`,
        name,
      );
    const length = view.getUint32(offset, true);
    offset += 4;
    if (offset + length > bytes.byteLength)
      throw badRequest(
        `input "${name}": BYTES element ${values.length} says ${length} bytes but only ${bytes.byteLength - offset} remain`,
        name,
        values.length,
      );
    try {
      values.push(decoder.decode(bytes.subarray(offset, offset + length)));
    } catch {
      throw badRequest(
        `input "${name}": BYTES element ${values.length} is not UTF-8 text`,
        name,
        values.length,
      );
    }
    offset += length;
  }
  if (values.length !== count)
    throw badRequest(
      `input "${name}": raw BYTES data holds ${values.length} elements but its shape says ${count}`,
      name,
    );
  return values;
}

/** An output tensor's elements as raw bytes (FP64 and INT64 little-endian, BYTES length-prefixed). */
export function encodeRawTensor(tensor: OutputTensor): Buffer {
  const { datatype, data } = tensor;
  if (datatype === "BYTES") {
    const texts = data as readonly string[];
    const parts = texts.map((text) => Buffer.from(text, "utf8"));
    const out = Buffer.allocUnsafe(parts.reduce((sum, part) => sum + 4 + part.length, 0));
    let offset = 0;
    for (const part of parts) {
      out.writeUInt32LE(part.length, offset);
      part.copy(out, offset + 4);
      offset += 4 + part.length;
    }
    return out;
  }
  const numbers = data as ArrayLike<number>;
  if (datatype === "INT64") {
    const out = new BigInt64Array(numbers.length);
    for (let i = 0; i < numbers.length; i++) out[i] = BigInt(numbers[i]);
    return Buffer.from(out.buffer);
  }
  const values = numbers instanceof Float64Array ? numbers : Float64Array.from(numbers);
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength);
}

function aligned(bytes: Uint8Array, size: number): boolean {
  return bytes.byteOffset % size === 0;
}

function copy(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** IEEE 754 half precision to a number. */
function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}
