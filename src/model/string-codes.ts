import {
  decodeForRewrite,
  encodeRewritten,
  int64Number,
  type RewritableModel,
  type RewritableNode,
} from "./onnx-proto.js";

/**
 * A string input's LabelEncoder, taken out of the graph: the runner looks each text up here
 * and feeds onnxruntime the int64 code instead of the text.
 *
 * Why: onnxruntime-node copies every string of a string tensor into native memory, one by
 * one, and then hashes it again in LabelEncoder; for a categorical linear model that is most
 * of the model's cost (about 0.13 s of CPU per million rows for PU_DO, against 0.02 s for the
 * same graph fed int64). A JavaScript Map lookup on texts that the feature map already
 * shares between rows costs a fraction of that. The model's signature does not change: callers
 * still send the text, and the bundle on disk keeps its graph.
 */
export interface StringCodes {
  keys: string[];
  /** The code of keys[i]; int32 range, so the runner can write the int64 tensor word by word. */
  codes: Int32Array;
  /** LabelEncoder's default_int64: the code of a text that is not a key. */
  fallback: number;
}

export interface EncodedGraph {
  /** The rewritten model: each encoded input is an int64 tensor of codes. */
  onnx: Uint8Array;
  /** By graph input name. */
  codes: Record<string, StringCodes>;
}

const ONNX_ML = "ai.onnx.ml";
const STRING = 8;
const INT64 = 7;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
/** LabelEncoder's attributes with string keys and int64 values; any other makes it ineligible. */
const ENCODER_ATTRIBUTES = new Set(["keys_strings", "values_int64s", "default_int64"]);
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The graph with every eligible string input's LabelEncoder moved out, or undefined when no
 * input is eligible or the model cannot be rewritten without loss. Eligible: a string input
 * read by exactly one node, a LabelEncoder from texts to int64 codes, in a graph without
 * subgraphs. Anything else is run as it is, so this changes speed, never results.
 */
export function encodeStringInputs(onnx: Uint8Array): EncodedGraph | undefined {
  const model = decodeForRewrite(onnx);
  const graph = model?.graph;
  if (!model || !graph || !importsMlDomain(model)) return undefined;
  if (graph.node.some((node) => node.attribute.some((a) => isGraphAttribute(a.type)))) {
    return undefined;
  }
  const codes: Record<string, StringCodes> = {};
  for (const input of graph.input) {
    const tensorType = input.type?.tensor_type;
    if (tensorType?.elem_type !== STRING) continue;
    if (graph.initializer.some((tensor) => tensor.name === input.name)) continue;
    if (graph.output.some((output) => output.name === input.name)) continue;
    const readers = graph.node.filter((node) => node.input.includes(input.name));
    if (readers.length !== 1) continue;
    const encoder = readers[0];
    const table = encoderTable(encoder, input.name);
    if (!table) continue;
    const produced = encoder.output[0];
    if (graph.output.some((output) => output.name === produced)) continue;
    // The codes now enter under the input's name, where the encoder's output was read.
    graph.node.splice(graph.node.indexOf(encoder), 1);
    for (const node of graph.node) {
      node.input = node.input.map((name) => (name === produced ? input.name : name));
    }
    graph.value_info = graph.value_info.filter(
      (info) => info.name !== produced && info.name !== input.name,
    );
    tensorType.elem_type = INT64;
    codes[input.name] = table;
  }
  if (Object.keys(codes).length === 0) return undefined;
  return { onnx: encodeRewritten(model), codes };
}

function importsMlDomain(model: RewritableModel): boolean {
  return model.opset_import.some((opset) => opset.domain === ONNX_ML);
}

// AttributeProto.AttributeType GRAPH (5) and GRAPHS (10): a subgraph may read any outer name.
function isGraphAttribute(type: number): boolean {
  return type === 5 || type === 10;
}

/** The encoder's texts and codes, or undefined when the lookup could not be equal to it. */
function encoderTable(node: RewritableNode, inputName: string): StringCodes | undefined {
  if (node.op_type !== "LabelEncoder" || node.domain !== ONNX_ML) return undefined;
  if (node.input.length !== 1 || node.input[0] !== inputName || node.output.length !== 1) {
    return undefined;
  }
  if (node.attribute.some((attribute) => !ENCODER_ATTRIBUTES.has(attribute.name))) {
    return undefined;
  }
  const attribute = (name: string) => node.attribute.find((a) => a.name === name);
  const keyBytes = attribute("keys_strings")?.strings ?? [];
  const values = (attribute("values_int64s")?.ints ?? []).map(int64Number);
  const fallback = int64Number(attribute("default_int64")?.i) ?? -1;
  if (keyBytes.length === 0 || keyBytes.length !== values.length) return undefined;
  if (!inInt32Range(fallback) || !values.every((v) => v !== undefined && inInt32Range(v))) {
    return undefined;
  }
  const keys: string[] = [];
  for (const bytes of keyBytes) {
    let key: string;
    try {
      key = strictUtf8.decode(bytes);
    } catch {
      return undefined;
    }
    // onnxruntime-node turns a lone surrogate into U+FFFD and may stop a text at NUL; keys
    // holding either could match differently in a Map, so such an encoder stays in the graph.
    if (key.includes("\uFFFD") || key.includes("\0")) return undefined;
    keys.push(key);
  }
  if (new Set(keys).size !== keys.length) return undefined;
  return { keys, codes: Int32Array.from(values as number[]), fallback };
}

function inInt32Range(value: number): boolean {
  return Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX;
}
