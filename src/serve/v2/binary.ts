import { clip, describeJson } from "../describe.js";
import { badRequest } from "../errors.js";
import { decodeRawTensor, ELEMENT_BYTES, encodeRawTensor, isRawDatatype } from "./raw-tensor.js";
import type { OutputTensor } from "./tensors.js";

/**
 * Triton's binary tensor data extension over HTTP (server docs/protocol/extension_binary_data.md,
 * followed as src/http_server.cc implements it): the body is the JSON request, whose length in
 * bytes the Inference-Header-Content-Length header gives, then each binary input's raw bytes
 * (`parameters.binary_data_size` of them) in the order of "inputs".
 */

/** The request and response header giving the length of the JSON part of the body. */
export const INFERENCE_HEADER = "inference-header-content-length";

/** What the response's Content-Type is when binary tensors follow the JSON (as Triton sends it). */
export const BINARY_TYPE = "application/octet-stream";

/** The name of the extension in the server metadata's "extensions" (as Triton lists it). */
export const BINARY_EXTENSION = "binary_tensor_data";

/** An inference body split into its JSON request and the raw tensor bytes after it. */
export interface InferenceBody {
  json: unknown;
  /** The bytes after the JSON: empty without Inference-Header-Content-Length. */
  binary: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/**
 * Splits a body at Inference-Header-Content-Length (the whole body is JSON without it, as
 * Triton's GetInferenceHeaderLength defaults it to the content length). A length that is not
 * a number of bytes within the body is a 400 naming the header.
 */
export function splitInferenceBody(
  body: Buffer,
  header: string | string[] | undefined,
): InferenceBody {
  const length = header === undefined ? body.length : headerLength(header, body.length);
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8", 0, length));
  } catch (error) {
    const where = length === body.length ? "" : ` (its first ${length} bytes)`;
    throw badRequest(`body${where} is not valid JSON: ${(error as Error).message}`);
  }
  return { json, binary: length === body.length ? EMPTY : body.subarray(length) };
}

function headerLength(header: string | string[], bodyLength: number): number {
  const text = Array.isArray(header) ? header.join(",") : header.trim();
  if (!/^\d+$/.test(text))
    throw badRequest(
      `Inference-Header-Content-Length must be the length of the JSON part of the body in bytes, got "${clip(text)}"`,
    );
  const length = Number(text);
  if (length > bodyLength)
    throw badRequest(
      `Inference-Header-Content-Length is ${text} but the body has only ${bodyLength} bytes`,
    );
  return length;
}

/**
 * Hands out the raw bytes after the JSON to the inputs that say `binary_data_size`, in order;
 * `finish` refuses bytes no input claimed (Triton: "unexpected additional input data").
 */
export class BinaryInputs {
  private offset = 0;

  constructor(private readonly bytes: Uint8Array) {}

  /** The decoded elements of one binary input of `rows` elements. */
  take(name: string, datatype: string, rows: number, size: number): ArrayLike<unknown> {
    if (!isRawDatatype(datatype))
      throw badRequest(
        `input "${name}": unknown datatype ${describeJson(datatype)} (the protocol's: ${[...Object.keys(ELEMENT_BYTES), "BYTES"].join(", ")})`,
        name,
      );
    const left = this.bytes.byteLength - this.offset;
    if (size > left) {
      throw badRequest(
        left === 0 && this.offset === 0
          ? `input "${name}": binary_data_size is ${size} but no binary data follows the JSON; send its length in Inference-Header-Content-Length and the tensor bytes after it`
          : `input "${name}": binary_data_size is ${size} but only ${left} bytes of binary data are left`,
        name,
      );
    }
    const part = this.bytes.subarray(this.offset, this.offset + size);
    this.offset += size;
    return decodeRawTensor(name, datatype, rows, part);
  }

  finish(): void {
    const left = this.bytes.byteLength - this.offset;
    if (left > 0)
      throw badRequest(
        `${left} bytes after the JSON belong to no input: the inputs' binary_data_size add up to ${this.offset}`,
      );
  }
}

/** `binary_data_size` of a tensor's parameters: undefined when absent (or null). */
export function binaryDataSize(name: string, parameters: Record<string, unknown> | undefined) {
  const size = parameters?.binary_data_size;
  if (size === undefined || size === null) return undefined;
  if (!Number.isSafeInteger(size) || (size as number) < 0)
    throw badRequest(
      `input "${name}": parameters.binary_data_size must be a number of bytes, got ${describeJson(size)}`,
      name,
    );
  return size as number;
}

/** A boolean parameter (binary_data, binary_data_output): undefined when absent or null. */
export function booleanParameter(
  where: string,
  parameters: Record<string, unknown> | undefined,
  key: string,
): boolean | undefined {
  const value = parameters?.[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean")
    throw badRequest(`${where}parameters.${key} must be true or false, got ${describeJson(value)}`);
  return value;
}

/** The raw bytes of the binary outputs, in response order, keyed by output name. */
export function encodeBinaryOutputs(
  tensors: readonly OutputTensor[],
  binary: ReadonlySet<string>,
): Map<string, Buffer> {
  const parts = new Map<string, Buffer>();
  for (const tensor of tensors) {
    if (binary.has(tensor.name)) parts.set(tensor.name, encodeRawTensor(tensor));
  }
  return parts;
}
