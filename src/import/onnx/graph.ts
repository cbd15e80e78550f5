import {
  AttributeType,
  encodeModel,
  ONNX_IR_VERSION,
  ONNX_ML_OPSET,
  ONNX_OPSET,
  TensorDataType,
  type OnnxAttribute,
  type OnnxDimension,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from "../../model/onnx-proto.js";

/** An attribute value as converters write it; the builder picks the ONNX attribute type. */
export type AttributeValue =
  | { float: number }
  | { int: number }
  | { string: string }
  | { tensor: OnnxTensor }
  | { floats: number[] }
  | { ints: number[] }
  | { strings: string[] };

/** A tensor element type by ONNX name. */
export type ElemType = keyof typeof TensorDataType;

/** A dimension: a number, or a symbolic name ("N" for the batch). */
export type Dim = number | string;

const encoder = new TextEncoder();

/**
 * Builds one ONNX graph: converters add nodes that read and write named values, and the
 * builder gives each value a unique name, so stages written apart (a DictVectorizer, a forest)
 * compose without clashes. IR 8 with ai.onnx 17 and ai.onnx.ml 3, as the trainer's export:
 * what Debian's onnx 1.12 checker accepts.
 */
export class GraphBuilder {
  private readonly nodes: OnnxNode[] = [];
  private readonly initializers: OnnxTensor[] = [];
  private readonly inputs: OnnxValueInfo[] = [];
  private readonly outputs: OnnxValueInfo[] = [];
  private readonly used = new Set<string>();

  constructor(readonly name: string) {}

  /** A fresh value name starting with `hint`. */
  unique(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9_]/g, "_") || "v";
    let name = base;
    for (let n = 1; this.used.has(name); n++) name = `${base}_${n}`;
    this.used.add(name);
    return name;
  }

  /** Declares a graph input under its exact name (a request column); returns that name. */
  input(name: string, elemType: ElemType, dims: Dim[] = ["N"]): string {
    if (this.used.has(name)) throw new Error(`graph value "${name}" is declared twice`);
    this.used.add(name);
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /** Marks a value as a graph output under its exact name (through Identity when renamed). */
  output(value: string, name: string, elemType: ElemType, dims: Dim[] = ["N"]): void {
    if (value !== name) {
      if (this.used.has(name)) throw new Error(`graph value "${name}" is declared twice`);
      this.used.add(name);
      this.nodes.push({
        name: `output_${name}`,
        op_type: "Identity",
        input: [value],
        output: [name],
      });
    }
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  /** A constant (initializer); returns its unique name. */
  constant(
    hint: string,
    elemType: ElemType,
    dims: number[],
    values: ArrayLike<number> | string[],
  ): string {
    const name = this.unique(hint);
    this.initializers.push(tensor(name, elemType, dims, values));
    return name;
  }

  /**
   * Adds one node; returns the names of its outputs (one per hint in `outputs`, default one).
   * `domain` is "ai.onnx.ml" for the ML operators (TreeEnsembleRegressor, LabelEncoder…).
   */
  node(
    opType: string,
    inputs: string[],
    attributes: Record<string, AttributeValue> = {},
    options: { outputs?: string[]; domain?: "" | "ai.onnx.ml" } = {},
  ): string[] {
    const outputs = (options.outputs ?? [opType.toLowerCase()]).map((hint) => this.unique(hint));
    this.nodes.push({
      name: this.unique(`node_${opType}`),
      op_type: opType,
      ...(options.domain ? { domain: options.domain } : {}),
      input: inputs,
      output: outputs,
      attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)),
    });
    return outputs;
  }

  /** The single output of a one-output node. */
  op(
    opType: string,
    inputs: string[],
    attributes: Record<string, AttributeValue> = {},
    options: { output?: string; domain?: "" | "ai.onnx.ml" } = {},
  ): string {
    return this.node(opType, inputs, attributes, {
      outputs: [options.output ?? opType.toLowerCase()],
      domain: options.domain,
    })[0];
  }

  /** The serialized ModelProto. */
  build(
    options: {
      producerVersion?: string;
      docString?: string;
      metadata?: Record<string, string>;
    } = {},
  ): Uint8Array {
    return encodeModel({
      ir_version: ONNX_IR_VERSION,
      opset_import: [
        { domain: "", version: ONNX_OPSET },
        { domain: "ai.onnx.ml", version: ONNX_ML_OPSET },
      ],
      producer_name: "mldeploy",
      ...(options.producerVersion ? { producer_version: options.producerVersion } : {}),
      ...(options.docString ? { doc_string: options.docString } : {}),
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
      metadata_props: Object.entries(options.metadata ?? {}).map(([key, value]) => ({
        key,
        value,
      })),
    });
  }
}

function valueInfo(name: string, elemType: ElemType, dims: Dim[]): OnnxValueInfo {
  const dim: OnnxDimension[] = dims.map((d) =>
    typeof d === "number" ? { dim_value: d } : { dim_param: d },
  );
  return { name, type: { tensor_type: { elem_type: TensorDataType[elemType], shape: { dim } } } };
}

/** A tensor; numbers are stored as raw little-endian bytes, strings as string_data. */
export function tensor(
  name: string,
  elemType: ElemType,
  dims: number[],
  values: ArrayLike<number> | string[],
): OnnxTensor {
  const data_type = TensorDataType[elemType];
  if (elemType === "STRING") {
    return {
      name,
      data_type,
      dims,
      string_data: Array.from(values as string[], (v) => encoder.encode(v)),
    };
  }
  const numbers = values as ArrayLike<number>;
  const width = { FLOAT: 4, DOUBLE: 8, INT64: 8, INT32: 4, INT8: 1, UINT8: 1, BOOL: 1 }[elemType];
  const bytes = new Uint8Array(numbers.length * width);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < numbers.length; i++) {
    const v = numbers[i];
    switch (elemType) {
      case "FLOAT":
        view.setFloat32(i * 4, v, true);
        break;
      case "DOUBLE":
        view.setFloat64(i * 8, v, true);
        break;
      case "INT64":
        view.setBigInt64(i * 8, BigInt(v), true);
        break;
      case "INT32":
        view.setInt32(i * 4, v, true);
        break;
      case "INT8":
        view.setInt8(i, v);
        break;
      case "UINT8":
      case "BOOL":
        view.setUint8(i, v);
        break;
    }
  }
  return { name, data_type, dims, raw_data: bytes };
}

function attribute(name: string, value: AttributeValue): OnnxAttribute {
  if ("float" in value) return { name, type: AttributeType.FLOAT, f: value.float };
  if ("int" in value) return { name, type: AttributeType.INT, i: value.int };
  if ("string" in value)
    return { name, type: AttributeType.STRING, s: encoder.encode(value.string) };
  if ("tensor" in value) return { name, type: AttributeType.TENSOR, t: value.tensor };
  if ("floats" in value) return { name, type: AttributeType.FLOATS, floats: value.floats };
  if ("ints" in value) return { name, type: AttributeType.INTS, ints: value.ints };
  return {
    name,
    type: AttributeType.STRINGS,
    strings: value.strings.map((s) => encoder.encode(s)),
  };
}
