import protobuf from "protobufjs";

/**
 * The subset of onnx.proto (proto2, package onnx) that a linear graph needs, as a protobufjs
 * reflection descriptor. Field numbers follow the ONNX specification; fields left out
 * (sparse tensors, functions, training info, segments, non-tensor types) are never written,
 * and a model holding one is never rewritten (see decodeForRewrite).
 */
const packed = { packed: true };
const expanded = { packed: false };

const descriptor = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: { type: "string", id: 1 },
            ref_attr_name: { type: "string", id: 21 },
            doc_string: { type: "string", id: 13 },
            type: { type: "AttributeType", id: 20 },
            f: { type: "float", id: 2 },
            i: { type: "int64", id: 3 },
            s: { type: "bytes", id: 4 },
            t: { type: "TensorProto", id: 5 },
            g: { type: "GraphProto", id: 6 },
            floats: { rule: "repeated", type: "float", id: 7, options: expanded },
            ints: { rule: "repeated", type: "int64", id: 8, options: expanded },
            strings: { rule: "repeated", type: "bytes", id: 9 },
            tensors: { rule: "repeated", type: "TensorProto", id: 10 },
            graphs: { rule: "repeated", type: "GraphProto", id: 11 },
          },
          nested: {
            AttributeType: {
              values: {
                UNDEFINED: 0,
                FLOAT: 1,
                INT: 2,
                STRING: 3,
                TENSOR: 4,
                GRAPH: 5,
                FLOATS: 6,
                INTS: 7,
                STRINGS: 8,
                TENSORS: 9,
                GRAPHS: 10,
              },
            },
          },
        },
        ValueInfoProto: {
          fields: {
            name: { type: "string", id: 1 },
            type: { type: "TypeProto", id: 2 },
            doc_string: { type: "string", id: 3 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: "repeated", type: "string", id: 1 },
            output: { rule: "repeated", type: "string", id: 2 },
            name: { type: "string", id: 3 },
            op_type: { type: "string", id: 4 },
            domain: { type: "string", id: 7 },
            attribute: { rule: "repeated", type: "AttributeProto", id: 5 },
            doc_string: { type: "string", id: 6 },
          },
        },
        ModelProto: {
          fields: {
            ir_version: { type: "int64", id: 1 },
            opset_import: { rule: "repeated", type: "OperatorSetIdProto", id: 8 },
            producer_name: { type: "string", id: 2 },
            producer_version: { type: "string", id: 3 },
            domain: { type: "string", id: 4 },
            model_version: { type: "int64", id: 5 },
            doc_string: { type: "string", id: 6 },
            graph: { type: "GraphProto", id: 7 },
            metadata_props: { rule: "repeated", type: "StringStringEntryProto", id: 14 },
          },
        },
        StringStringEntryProto: {
          fields: {
            key: { type: "string", id: 1 },
            value: { type: "string", id: 2 },
          },
        },
        GraphProto: {
          fields: {
            node: { rule: "repeated", type: "NodeProto", id: 1 },
            name: { type: "string", id: 2 },
            initializer: { rule: "repeated", type: "TensorProto", id: 5 },
            doc_string: { type: "string", id: 10 },
            input: { rule: "repeated", type: "ValueInfoProto", id: 11 },
            output: { rule: "repeated", type: "ValueInfoProto", id: 12 },
            value_info: { rule: "repeated", type: "ValueInfoProto", id: 13 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: "repeated", type: "int64", id: 1, options: expanded },
            data_type: { type: "int32", id: 2 },
            float_data: { rule: "repeated", type: "float", id: 4, options: packed },
            int32_data: { rule: "repeated", type: "int32", id: 5, options: packed },
            string_data: { rule: "repeated", type: "bytes", id: 6 },
            int64_data: { rule: "repeated", type: "int64", id: 7, options: packed },
            name: { type: "string", id: 8 },
            doc_string: { type: "string", id: 12 },
            raw_data: { type: "bytes", id: 9 },
            double_data: { rule: "repeated", type: "double", id: 10, options: packed },
            uint64_data: { rule: "repeated", type: "uint64", id: 11, options: packed },
          },
          nested: {
            DataType: {
              values: {
                UNDEFINED: 0,
                FLOAT: 1,
                UINT8: 2,
                INT8: 3,
                UINT16: 4,
                INT16: 5,
                INT32: 6,
                INT64: 7,
                STRING: 8,
                BOOL: 9,
                FLOAT16: 10,
                DOUBLE: 11,
                UINT32: 12,
                UINT64: 13,
              },
            },
          },
        },
        TensorShapeProto: {
          fields: {
            dim: { rule: "repeated", type: "Dimension", id: 1 },
          },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ["dim_value", "dim_param"] } },
              fields: {
                dim_value: { type: "int64", id: 1 },
                dim_param: { type: "string", id: 2 },
                denotation: { type: "string", id: 3 },
              },
            },
          },
        },
        TypeProto: {
          oneofs: { value: { oneof: ["tensor_type"] } },
          fields: {
            tensor_type: { type: "Tensor", id: 1 },
            denotation: { type: "string", id: 6 },
          },
          nested: {
            Tensor: {
              fields: {
                elem_type: { type: "int32", id: 1 },
                shape: { type: "TensorShapeProto", id: 2 },
              },
            },
          },
        },
        OperatorSetIdProto: {
          fields: {
            domain: { type: "string", id: 1 },
            version: { type: "int64", id: 2 },
          },
        },
      },
    },
  },
};

/** TensorProto.DataType values. */
export const TensorDataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  DOUBLE: 11,
} as const;
/** AttributeProto.AttributeType values. */
export const AttributeType = {
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
} as const;

// Plain-object shapes of the messages, in the descriptor's snake_case field names.
export interface OnnxDimension {
  dim_value?: number;
  dim_param?: string;
}
export interface OnnxValueInfo {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: OnnxDimension[] } } };
  doc_string?: string;
}
export interface OnnxTensor {
  name: string;
  data_type: number;
  dims: number[];
  raw_data?: Uint8Array;
  double_data?: number[];
  int64_data?: number[];
  float_data?: number[];
  int32_data?: number[];
  string_data?: Uint8Array[];
}
export interface OnnxAttribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: OnnxTensor;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
}
export interface OnnxNode {
  name: string;
  op_type: string;
  domain?: string;
  input: string[];
  output: string[];
  attribute?: OnnxAttribute[];
}
export interface OnnxGraph {
  name: string;
  node: OnnxNode[];
  initializer: OnnxTensor[];
  input: OnnxValueInfo[];
  output: OnnxValueInfo[];
  doc_string?: string;
}
export interface OnnxModel {
  ir_version: number;
  opset_import: Array<{ domain: string; version: number }>;
  producer_name?: string;
  producer_version?: string;
  doc_string?: string;
  graph: OnnxGraph;
  metadata_props?: Array<{ key: string; value: string }>;
}

let modelType: protobuf.Type | undefined;

function modelProto(): protobuf.Type {
  modelType ??= protobuf.Root.fromJSON(descriptor).resolveAll().lookupType("onnx.ModelProto");
  return modelType;
}

export function encodeModel(model: OnnxModel): Uint8Array {
  const type = modelProto();
  const problem = type.verify(model);
  if (problem) throw new Error(`invalid ONNX model message: ${problem}`);
  return type.encode(type.fromObject(model as unknown as Record<string, unknown>)).finish();
}

/**
 * Decodes a model back into plain objects (int64 as numbers, bytes as Uint8Array): for tests
 * and diagnostics, not for running models.
 */
export function decodeModel(bytes: Uint8Array): OnnxModel {
  const type = modelProto();
  return type.toObject(type.decode(bytes), { longs: Number, arrays: true }) as unknown as OnnxModel;
}

/** An int64 field of a message decoded for rewriting: a Long, exact beyond 2^53. */
export type Int64 = number | protobuf.Long;

export function int64Number(value: Int64 | null | undefined): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === "number") return value;
  const high = value.unsigned ? value.high >>> 0 : value.high;
  return high * 2 ** 32 + (value.low >>> 0);
}

/** The parts of a decoded ModelProto that a rewrite reads or changes (see decodeForRewrite). */
export interface RewritableAttribute {
  name: string;
  type: number;
  i?: Int64 | null;
  ints?: Int64[];
  strings?: Uint8Array[];
}
export interface RewritableNode {
  input: string[];
  output: string[];
  op_type: string;
  domain?: string | null;
  attribute: RewritableAttribute[];
}
export interface RewritableValueInfo {
  name: string;
  type?: { tensor_type?: { elem_type?: number | null } | null } | null;
}
export interface RewritableModel {
  opset_import: Array<{ domain?: string | null; version?: Int64 | null }>;
  graph?: {
    node: RewritableNode[];
    initializer: Array<{ name: string }>;
    input: RewritableValueInfo[];
    output: RewritableValueInfo[];
    value_info: RewritableValueInfo[];
  } | null;
}

/**
 * The model as protobuf messages that encodeRewritten writes back unchanged but for what the
 * caller changed; undefined when the bytes hold anything this descriptor's subset would lose
 * on the way (a field it does not know, text that is not UTF-8) or are not a ModelProto.
 */
export function decodeForRewrite(bytes: Uint8Array): RewritableModel | undefined {
  const type = modelProto();
  try {
    if (!knowsEveryField(type, protobuf.Reader.create(bytes), bytes.length)) return undefined;
    return type.decode(bytes) as unknown as RewritableModel;
  } catch {
    return undefined;
  }
}

export function encodeRewritten(model: RewritableModel): Uint8Array {
  const type = modelProto();
  return type.encode(model as unknown as protobuf.Message).finish();
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Walks the wire format: every field of every nested message must be one the subset defines. */
function knowsEveryField(type: protobuf.Type, reader: protobuf.Reader, end: number): boolean {
  while (reader.pos < end) {
    const tag = reader.uint32();
    const field = type.fieldsById[tag >>> 3] as protobuf.Field | undefined;
    const wireType = tag & 7;
    if (!field) return false;
    if (field.resolvedType instanceof protobuf.Type) {
      if (wireType !== 2) return false;
      const length = reader.uint32();
      const stop = reader.pos + length;
      if (stop > end || !knowsEveryField(field.resolvedType, reader, stop)) return false;
      reader.pos = stop;
    } else if (field.type === "string") {
      if (wireType !== 2) return false;
      strictUtf8.decode(reader.bytes());
    } else {
      reader.skipType(wireType);
    }
  }
  return reader.pos === end;
}
