import type { InputTensor, OutputTensor } from "../v2/tensors.js";
import { rowsOfShape } from "../v2/tensors.js";
import { decodeRawTensor, elementCount, encodeRawTensor, isRawDatatype } from "../v2/raw-tensor.js";
import { badRequest } from "../errors.js";
import type {
  InferInputTensor,
  InferOutputTensor,
  ModelInferRequest,
  TensorContents,
} from "./messages.js";

/**
 * The field of InferTensorContents each datatype's elements travel in (grpc_predict_v2.proto;
 * KServe's GRPC_CONTENT_DATATYPE_MAPPINGS in protocol/infer_type.py, MLServer's
 * grpc/converters.py). FP16 has none: the spec says it travels as raw contents only.
 */
const CONTENTS_FIELD: Readonly<Record<string, keyof TensorContents>> = {
  BOOL: "bool_contents",
  INT8: "int_contents",
  INT16: "int_contents",
  INT32: "int_contents",
  INT64: "int64_contents",
  UINT8: "uint_contents",
  UINT16: "uint_contents",
  UINT32: "uint_contents",
  UINT64: "uint64_contents",
  FP32: "fp32_contents",
  FP64: "fp64_contents",
  BYTES: "bytes_contents",
};
const FIELDS = [...new Set(Object.values(CONTENTS_FIELD))];
const DATATYPES = [...Object.keys(CONTENTS_FIELD), "FP16"].join(", ");

/**
 * The request's input tensors, their elements taken from the typed contents or from
 * raw_input_contents (one per input, in order; the spec allows one form per request, not a
 * mix). Checks the gRPC envelope only; batchFromTensors checks the tensors as for JSON.
 */
export function inputTensors(request: ModelInferRequest): InputTensor[] {
  const { inputs, raw_input_contents: raw } = request;
  if (raw.length > 0) {
    if (raw.length !== inputs.length)
      throw badRequest(
        `raw_input_contents holds ${raw.length} tensors but the request has ${inputs.length} inputs; send one per input, in the order of "inputs"`,
      );
    return inputs.map((input, i) => rawTensor(input, raw[i]));
  }
  return inputs.map(typedTensor);
}

function checkDatatype(input: InferInputTensor): void {
  if (!isRawDatatype(input.datatype))
    throw badRequest(
      `input "${input.name}": unknown datatype ${JSON.stringify(input.datatype)} (the protocol's are ${DATATYPES})`,
      input.name,
    );
}

function rawTensor(input: InferInputTensor, bytes: Buffer): InputTensor {
  const { name, datatype, shape, contents } = input;
  if (contents && FIELDS.some((field) => (contents[field]?.length ?? 0) > 0))
    throw badRequest(
      `input "${name}": contents must not be set when the request uses raw_input_contents`,
      name,
    );
  checkDatatype(input);
  // The shape first: the element count the bytes must make comes from it.
  rowsOfShape(name, shape);
  const count = elementCount(shape) ?? 0;
  return { name, datatype, shape, data: decodeRawTensor(name, datatype, count, bytes) };
}

function typedTensor(input: InferInputTensor): InputTensor {
  const { name, datatype, shape, contents } = input;
  checkDatatype(input);
  const field = CONTENTS_FIELD[datatype];
  if (field === undefined)
    throw badRequest(
      `input "${name}": ${datatype} has no typed contents field; send it in raw_input_contents`,
      name,
    );
  const stray = FIELDS.find((other) => other !== field && (contents?.[other]?.length ?? 0) > 0);
  if (stray !== undefined)
    throw badRequest(
      `input "${name}": a ${datatype} tensor's elements go in ${field}, not ${stray}`,
      name,
    );
  const values = contents?.[field] ?? [];
  return {
    name,
    datatype,
    shape,
    data: datatype === "BYTES" ? utf8Elements(name, values as Uint8Array[]) : values,
  };
}

function utf8Elements(name: string, elements: Uint8Array[]): string[] {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  return elements.map((element, i) => {
    try {
      return decoder.decode(element);
    } catch {
      throw badRequest(`input "${name}": BYTES element ${i} is not UTF-8 text`, name, i);
    }
  });
}

/**
 * The response's tensors: raw_output_contents when the request came as raw contents, typed
 * contents otherwise, as KServe's InferResponse.to_grpc (protocol/infer_type.py) answers: a
 * client gets its tensors back in the form it sends them. (Triton always answers raw; its
 * clients always send raw, so they get raw here too.)
 */
export function outputMessages(
  tensors: readonly OutputTensor[],
  raw: boolean,
): { outputs: InferOutputTensor[]; raw_output_contents: Buffer[] } {
  const outputs = tensors.map(({ name, datatype, shape, data }) =>
    raw
      ? { name, datatype, shape }
      : { name, datatype, shape, contents: typedContents(datatype, data) },
  );
  return { outputs, raw_output_contents: raw ? tensors.map(encodeRawTensor) : [] };
}

function typedContents(
  datatype: OutputTensor["datatype"],
  data: OutputTensor["data"],
): TensorContents {
  switch (datatype) {
    case "BYTES":
      return {
        bytes_contents: (data as readonly string[]).map((text) => Buffer.from(text, "utf8")),
      };
    case "INT64":
      return { int64_contents: Array.from(data as ArrayLike<number>) };
    case "FP64":
      return { fp64_contents: Array.from(data as ArrayLike<number>) };
  }
}
