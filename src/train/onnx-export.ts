import type { CategoricalLinearModel } from "./linear.js";
import {
  AttributeType,
  encodeModel,
  ONNX_IR_VERSION,
  ONNX_ML_OPSET,
  ONNX_OPSET,
  TensorDataType,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from "../model/onnx-proto.js";

export interface ExportOnnxOptions {
  /** Name of the graph output (e.g. "duration"). */
  outputName: string;
  producer?: string;
  producerVersion?: string;
  docString?: string;
  /** Stored as ModelProto.metadata_props. */
  metadata?: Record<string, string>;
}

// The versions every graph mldeploy writes declares (the model layer owns them).
export { ONNX_IR_VERSION, ONNX_ML_OPSET, ONNX_OPSET } from "../model/onnx-proto.js";

/** Symbolic batch dimension: 1-D inputs let MLflow's onnx flavor feed DataFrame columns as is. */
const BATCH_DIM = "N";

/**
 * Exports the linear model as a standard ONNX graph:
 *   category --LabelEncoder--> index --Gather(weights)--> w  (+ x_j·β_j ...) + b
 * LabelEncoder is a hash lookup and Gather an index, so cost per row does not grow with the
 * number of categories (a one-hot MatMul would). Unknown categories map to an extra last
 * weight of 0, as DictVectorizer ignores them.
 */
export function exportOnnx(model: CategoricalLinearModel, options: ExportOnnxOptions): Uint8Array {
  const k = model.categories.length;
  const encoder = new TextEncoder();
  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [];

  nodes.push({
    name: "category_index",
    op_type: "LabelEncoder",
    domain: "ai.onnx.ml",
    input: [model.categoricalFeature],
    output: ["category_index"],
    attribute: [
      {
        name: "keys_strings",
        type: AttributeType.STRINGS,
        strings: model.categories.map((c) => encoder.encode(c)),
      },
      {
        name: "values_int64s",
        type: AttributeType.INTS,
        ints: model.categories.map((_, index) => index),
      },
      { name: "default_int64", type: AttributeType.INT, i: k },
    ],
  });
  const weights = new Float64Array(k + 1);
  weights.set(model.categoryWeights);
  initializers.push(doubleTensor("category_weights", weights, [k + 1]));
  nodes.push({
    name: "category_term",
    op_type: "Gather",
    input: ["category_weights", "category_index"],
    output: ["category_term"],
    attribute: [{ name: "axis", type: AttributeType.INT, i: 0 }],
  });

  let sum = "category_term";
  model.numericFeatures.forEach((feature, j) => {
    const coefficient = `coef_${j}`;
    initializers.push(doubleTensor(coefficient, Float64Array.of(model.numericWeights[j]), []));
    nodes.push({
      name: `term_${j}`,
      op_type: "Mul",
      input: [feature, coefficient],
      output: [`term_${j}`],
    });
    nodes.push({
      name: `sum_${j}`,
      op_type: "Add",
      input: [sum, `term_${j}`],
      output: [`sum_${j}`],
    });
    sum = `sum_${j}`;
  });
  initializers.push(doubleTensor("intercept", Float64Array.of(model.intercept), []));
  nodes.push({
    name: "add_intercept",
    op_type: "Add",
    input: [sum, "intercept"],
    output: [options.outputName],
  });

  return encodeModel({
    ir_version: ONNX_IR_VERSION,
    opset_import: [
      { domain: "", version: ONNX_OPSET },
      { domain: "ai.onnx.ml", version: ONNX_ML_OPSET },
    ],
    producer_name: options.producer ?? "mldeploy",
    ...(options.producerVersion ? { producer_version: options.producerVersion } : {}),
    ...(options.docString ? { doc_string: options.docString } : {}),
    graph: {
      name: "categorical_linear",
      node: nodes,
      initializer: initializers,
      input: [
        vector(model.categoricalFeature, TensorDataType.STRING),
        ...model.numericFeatures.map((name) => vector(name, TensorDataType.DOUBLE)),
      ],
      output: [vector(options.outputName, TensorDataType.DOUBLE)],
    },
    metadata_props: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
  });
}

function vector(name: string, elemType: number): OnnxValueInfo {
  return {
    name,
    type: { tensor_type: { elem_type: elemType, shape: { dim: [{ dim_param: BATCH_DIM }] } } },
  };
}

/** Doubles as raw little-endian bytes, the layout ONNX prescribes for raw_data on any host. */
function doubleTensor(name: string, values: Float64Array, dims: number[]): OnnxTensor {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  values.forEach((value, index) => view.setFloat64(index * 8, value, true));
  return { name, data_type: TensorDataType.DOUBLE, dims, raw_data: bytes };
}
