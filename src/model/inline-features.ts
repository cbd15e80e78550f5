import {
  AttributeType,
  decodeForRewrite,
  encodeRewritten,
  int64Number,
  onnxSchema,
  TensorDataType,
  type RewritableModel,
  type RewritableNode,
} from "./onnx-proto.js";
import type { ColumnSpec, ColumnType, FeatureExpr } from "./types.js";

/**
 * Moves a bundle's feature map (mldeploy.features) into its ONNX graph, so that the graph takes
 * the request's own columns and every runtime given the bundle (mldeploy, `mlflow models serve`,
 * Python onnxruntime, Triton) takes the same columns and gives the same numbers.
 *
 * With standard ops only (ai.onnx ≤ 17, ai.onnx.ml ≤ 3, what onnx 1.12's checker accepts):
 * - `{column}` → the request input itself, or a Cast to the type the graph took;
 * - `{sum}` → Cast to double and Add, in the order mldeploy adds;
 * - `{concat}` of integer columns and literal texts (ids such as "130_205"): there is no string
 *   concatenation before opset 20, but such a text is only ever looked up, by LabelEncoders with
 *   string keys. Each key is parsed back into the integers that print as it; the encoders are
 *   re-keyed by one int64 number per tuple of integers (mixed radix over each column's range in
 *   the keys), which the graph computes from the integer inputs. A value outside its column's
 *   range (or not an integer) cannot print as any key, so it gets a number no key has: the
 *   encoder's default, as for an unknown text. Keys that cannot be printed by integers can never
 *   match and are dropped. Cost per row: a few element-wise ops and one hash lookup, whatever
 *   the number of categories.
 * Anything else leaves the graph as it is (the reason is returned): the bundle then keeps its
 * feature map, which mldeploy applies before the graph, as before.
 */

export type InlinedFeatures =
  { ok: true; onnx: Uint8Array; inputs: ColumnSpec[] } | { ok: false; reason: string };

const ONNX_ML = "ai.onnx.ml";
/** Clip on integers and Unsqueeze with axes as an input need opset 13. */
const MIN_OPSET = 13;
/** LabelEncoder with int64 keys: ai.onnx.ml 2. */
const MIN_ML_OPSET = 2;
/** The mixed-radix key must stay exact in a JavaScript number while the keys are computed. */
const MAX_KEY_SPACE = 2 ** 53;
/** Parses of one key text (adjacent columns are ambiguous: "123" = 1|23 = 12|3). */
const MAX_PARSES_PER_KEY = 64;

const ELEM_OF: Record<ColumnType, number> = {
  long: TensorDataType.INT64,
  integer: TensorDataType.INT32,
  double: TensorDataType.DOUBLE,
  float: TensorDataType.FLOAT,
  string: TensorDataType.STRING,
  boolean: TensorDataType.BOOL,
};
const NUMERIC_ELEMS = new Set<number>([
  TensorDataType.INT64,
  TensorDataType.INT32,
  TensorDataType.DOUBLE,
  TensorDataType.FLOAT,
]);
/** Request column types a concat can compile: their values print as integers or never match. */
const INTEGER_PRINTING = new Set<ColumnType>(["long", "integer", "double"]);

/** A decoded message of the rewrite: only what this module reads or sets is typed. */
interface GraphValue {
  name: string;
  type?: {
    tensor_type?: { elem_type?: number | null; shape?: { dim?: unknown[] } | null } | null;
  } | null;
}
interface RewriteGraph {
  node: RewritableNode[];
  initializer: Array<{ name: string }>;
  input: GraphValue[];
  output: GraphValue[];
  value_info: GraphValue[];
  sparse_initializer?: unknown[];
}

/** The graph with `features` computed inside it from `request`, or why it cannot be. */
export function inlineFeatures(
  onnx: Uint8Array,
  request: readonly ColumnSpec[],
  features: Readonly<Record<string, FeatureExpr>>,
): InlinedFeatures {
  const model = decodeForRewrite(onnx);
  const graph = model?.graph as RewriteGraph | undefined | null;
  if (!model || !graph) return refuse("the ONNX file cannot be decoded for rewriting");
  const problem = unsupportedGraph(model, graph);
  if (problem) return refuse(problem);

  const requestByName = new Map(request.map((column) => [column.name, column]));
  const initializers = new Set(graph.initializer.map((tensor) => tensor.name));
  const oldInputs = graph.input.filter((input) => !initializers.has(input.name));
  const featureNames = Object.keys(features);
  for (const input of oldInputs) {
    if (!(input.name in features)) return refuse(`graph input "${input.name}" has no feature`);
  }
  for (const name of featureNames) {
    if (!oldInputs.some((input) => input.name === name)) {
      return refuse(`feature "${name}" is not a graph input`);
    }
  }
  const outputs = new Set(graph.output.map((output) => output.name));
  for (const column of request) {
    if (outputs.has(column.name)) {
      return refuse(`request column "${column.name}" is also the name of a graph output`);
    }
  }

  const keyed = Object.values(features).some((expr) => "concat" in expr);
  const mlOpset = opsetVersion(model, ONNX_ML);
  if (keyed && (mlOpset === undefined || mlOpset < MIN_ML_OPSET)) {
    return refuse(
      `the graph's ai.onnx.ml opset is ${mlOpset ?? "missing"}; LabelEncoder with int64 keys needs ${MIN_ML_OPSET}`,
    );
  }
  // Every feature is planned before the graph changes: all of them compile, or none.
  const plans: FeaturePlan[] = [];
  for (const input of oldInputs) {
    const plan = planFeature(graph, input, features[input.name], requestByName, outputs);
    if (typeof plan === "string") return refuse(`feature "${input.name}": ${plan}`);
    plans.push(plan);
  }

  const names = new Names(graph);
  const built = new Built(names);
  // The graph's old inputs become internal values, freeing their names for request columns.
  for (const plan of plans) {
    if (plan.kind === "same") continue;
    plan.value = names.fresh(`${plan.input}_feature`);
    renameValue(graph, plan.input, plan.value);
  }
  // A request column may carry the name of a value inside the graph: that value is renamed.
  const kept = new Set(plans.filter((p) => p.kind === "same").map((p) => p.input));
  for (const column of request) {
    if (kept.has(column.name) || !names.has(column.name)) continue;
    renameValue(graph, column.name, names.fresh(`${column.name}_inner`));
  }
  for (const column of request) names.take(column.name);

  for (const plan of plans) buildFeature(built, plan);
  graph.node.unshift(...(built.nodes as RewritableNode[]));
  (graph.initializer as unknown[]).push(...built.initializers);
  const renamedAway = new Set(plans.filter((p) => p.kind !== "same").map((p) => p.value));
  graph.value_info = graph.value_info.filter((info) => !renamedAway.has(info.name));
  const initializerInputs = graph.input.filter((input) => initializers.has(input.name));
  graph.input = [...request.map((column) => inputValue(column)), ...initializerInputs];

  return {
    ok: true,
    onnx: encodeRewritten(model),
    inputs: request.map((column) => ({ name: column.name, type: column.type })),
  };
}

function refuse(reason: string): InlinedFeatures {
  return { ok: false, reason };
}

function unsupportedGraph(model: RewritableModel, graph: RewriteGraph): string | undefined {
  // A subgraph may read any outer name, which the renames below would miss.
  if (graph.node.some((n) => n.attribute.some((a) => a.type === 5 || a.type === 10))) {
    return "the graph has subgraphs (If, Loop, Scan)";
  }
  if (graph.sparse_initializer?.length) return "the graph has sparse initializers";
  const opset = opsetVersion(model, "");
  if (opset === undefined || opset < MIN_OPSET) {
    return `the graph's ai.onnx opset is ${opset ?? "missing"}; ${MIN_OPSET} or later is needed`;
  }
  return undefined;
}

function opsetVersion(model: RewritableModel, domain: string): number | undefined {
  const entry = model.opset_import.find(
    (o) => (o.domain ?? "") === domain || (domain === "" && o.domain === "ai.onnx"),
  );
  return entry ? int64Number(entry.version) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Planning: what each feature becomes, checked against the graph.

interface FeatureBase {
  /** The graph input the feature fed (and its name before the rewrite). */
  input: string;
  /** The internal value now holding the feature (the input's new name). */
  value: string;
  elem: number;
  /** The old input was [N, 1]: the feature gets a trailing unit dimension. */
  columnVector: boolean;
}
type FeaturePlan = FeatureBase &
  (
    | { kind: "same" }
    | { kind: "column"; column: ColumnSpec }
    | { kind: "sum"; parts: Array<number | ColumnSpec> }
    | { kind: "keyed"; columns: KeyColumn[]; noKey: number; encoders: ReKeyedEncoder[] }
  );

interface KeyColumn {
  spec: ColumnSpec;
  lo: number;
  hi: number;
  stride: number;
}
interface ReKeyedEncoder {
  node: RewritableNode;
  keys: number[];
  /** Positions in the encoder's value lists of each new key. */
  sources: number[];
}

function planFeature(
  graph: RewriteGraph,
  input: GraphValue,
  expr: FeatureExpr,
  request: Map<string, ColumnSpec>,
  outputs: Set<string>,
): FeaturePlan | string {
  const tensor = input.type?.tensor_type;
  const elem = tensor?.elem_type ?? 0;
  const rank = tensor?.shape?.dim?.length;
  if (!tensor || elem === 0) return "its graph input is not a tensor";
  if (rank !== undefined && rank !== 1 && rank !== 2) return `its graph input has rank ${rank}`;
  if (outputs.has(input.name)) return "its graph input is also a graph output";
  const base = { input: input.name, value: input.name, elem, columnVector: rank === 2 };
  const column = (name: string): ColumnSpec | string =>
    request.get(name) ?? `column "${name}" is not a request column`;

  if ("column" in expr) {
    const spec = column(expr.column);
    if (typeof spec === "string") return spec;
    const from = ELEM_OF[spec.type];
    if (from !== elem && !(NUMERIC_ELEMS.has(from) && NUMERIC_ELEMS.has(elem))) {
      return `column "${spec.name}" is ${spec.type}, the graph takes element type ${elem}`;
    }
    if (spec.name === input.name && from === elem && rank !== 2) return { ...base, kind: "same" };
    return { ...base, kind: "column", column: spec };
  }
  if ("sum" in expr) {
    if (elem !== TensorDataType.DOUBLE && elem !== TensorDataType.FLOAT) {
      return "a sum compiles only into a double or float input";
    }
    const parts: Array<number | ColumnSpec> = [];
    for (const part of expr.sum) {
      if (typeof part === "number") {
        parts.push(part);
        continue;
      }
      const spec = column(part.column);
      if (typeof spec === "string") return spec;
      if (!NUMERIC_ELEMS.has(ELEM_OF[spec.type])) return `column "${spec.name}" is not numeric`;
      parts.push(spec);
    }
    if (!parts.some((part) => typeof part !== "number")) return "the sum reads no column";
    return { ...base, kind: "sum", parts };
  }
  return planConcat(graph, base, expr.concat, column);
}

function planConcat(
  graph: RewriteGraph,
  base: FeatureBase,
  pattern: Array<string | { column: string }>,
  column: (name: string) => ColumnSpec | string,
): FeaturePlan | string {
  if (base.elem !== TensorDataType.STRING) return "a concat feeds a graph input that is no string";
  const parts: Array<string | ColumnSpec> = [];
  for (const part of pattern) {
    if (typeof part === "string") {
      parts.push(part);
      continue;
    }
    const spec = column(part.column);
    if (typeof spec === "string") return spec;
    if (!INTEGER_PRINTING.has(spec.type)) {
      return `column "${spec.name}" is ${spec.type}: only integer ids (long, integer, double) join inside the graph (ONNX has no string concatenation before opset 20)`;
    }
    parts.push(spec);
  }
  const columns = parts.filter((part): part is ColumnSpec => typeof part !== "string");
  if (columns.length === 0) return "the concat reads no column";

  const readers = graph.node.filter((node) => node.input.includes(base.input));
  if (readers.length === 0) return "no node reads it";
  const parsedEncoders: Array<{ node: RewritableNode; tuples: number[][]; sources: number[] }> = [];
  for (const node of readers) {
    const problem = stringKeyedEncoder(node, base.input);
    if (problem) return problem;
    const keys = node.attribute.find((a) => a.name === "keys_strings")?.strings ?? [];
    const tuples: number[][] = [];
    const sources: number[] = [];
    const seen = new Set<string>();
    for (let index = 0; index < keys.length; index++) {
      const text = new TextDecoder().decode(keys[index]);
      if (seen.has(text)) return `its LabelEncoder lists the key "${text}" twice`;
      seen.add(text);
      const parses = parseKey(text, parts);
      if (typeof parses === "string") return parses;
      for (const tuple of parses) {
        tuples.push(tuple);
        sources.push(index);
      }
    }
    parsedEncoders.push({ node, tuples, sources });
  }
  const all = parsedEncoders.flatMap((encoder) => encoder.tuples);
  if (all.length === 0) return "none of its keys can be printed from integer columns";

  const keyColumns: KeyColumn[] = columns.map((spec, i) => {
    let lo = Infinity;
    let hi = -Infinity;
    for (const tuple of all) {
      lo = Math.min(lo, tuple[i]);
      hi = Math.max(hi, tuple[i]);
    }
    return { spec, lo, hi, stride: 1 };
  });
  let space = 1;
  for (let i = keyColumns.length - 1; i >= 0; i--) {
    keyColumns[i].stride = space;
    space *= keyColumns[i].hi - keyColumns[i].lo + 1;
    if (space > MAX_KEY_SPACE)
      return "the ranges of its columns' values are too wide for one int64 key";
  }
  // key = Σ v_i · stride_i: injective over the ranges (mixed radix shifted by Σ lo_i · stride_i,
  // which saves a Sub per column in the graph); one below the smallest is no key.
  const keyOf = (tuple: number[]): number =>
    tuple.reduce((sum, value, i) => sum + value * keyColumns[i].stride, 0);
  const noKey = keyOf(keyColumns.map((column) => column.lo)) - 1;
  const largest = keyColumns.reduce(
    (sum, column) => sum + Math.max(Math.abs(column.lo), Math.abs(column.hi)) * column.stride,
    0,
  );
  if (!Number.isSafeInteger(largest + 1)) {
    return "its columns' values are too large for one exact int64 key";
  }
  return {
    ...base,
    kind: "keyed",
    columns: keyColumns,
    noKey,
    encoders: parsedEncoders.map(({ node, tuples, sources }) => ({
      node,
      keys: tuples.map(keyOf),
      sources,
    })),
  };
}

const ENCODER_KEEPS = new Set([
  "values_int64s",
  "values_floats",
  "values_strings",
  "default_int64",
  "default_float",
  "default_string",
]);

function stringKeyedEncoder(node: RewritableNode, input: string): string | undefined {
  if (node.op_type !== "LabelEncoder" || node.domain !== ONNX_ML) {
    return `it is read by ${node.op_type}, not only by LabelEncoders (ONNX cannot build the text inside the graph)`;
  }
  if (node.input.length !== 1 || node.input[0] !== input)
    return "its LabelEncoder reads other inputs";
  for (const attribute of node.attribute) {
    if (attribute.name !== "keys_strings" && !ENCODER_KEEPS.has(attribute.name)) {
      return `its LabelEncoder has attribute ${attribute.name}`;
    }
  }
  if (!node.attribute.some((a) => a.name === "keys_strings"))
    return "its LabelEncoder has no keys_strings";
  return undefined;
}

/** An integer as Python's str() and JavaScript's String() print it. */
const CANONICAL_INTEGER = /^-?(?:0|[1-9][0-9]*)$/;

/**
 * Every tuple of integers whose printing, joined with the literal texts, gives `text`; an
 * empty list when none does (the key can never match). A string when a key could match a
 * value that is no integer (a double column printing "1.5"), which the graph cannot compute.
 */
function parseKey(text: string, parts: Array<string | ColumnSpec>): number[][] | string {
  const results: number[][] = [];
  let problem: string | undefined;
  const walk = (at: number, part: number, values: number[]): void => {
    if (problem || results.length > MAX_PARSES_PER_KEY) return;
    if (part === parts.length) {
      if (at === text.length) results.push([...values]);
      return;
    }
    const current = parts[part];
    if (typeof current === "string") {
      if (text.startsWith(current, at)) walk(at + current.length, part + 1, values);
      return;
    }
    for (let end = at + 1; end <= text.length; end++) {
      const piece = text.slice(at, end);
      if (!CANONICAL_INTEGER.test(piece) || piece === "-0") {
        if (current.type === "double" && printsAsDouble(piece)) {
          problem = `its key "${text}" holds "${piece}", which a double column prints, but not as an integer`;
          return;
        }
        continue;
      }
      const value = Number(piece);
      if (!Number.isSafeInteger(value)) {
        if (current.type === "double") {
          problem = `its key "${text}" holds ${piece}, beyond the integers the graph can compare exactly`;
          return;
        }
        continue;
      }
      if (current.type === "integer" && (value < -(2 ** 31) || value >= 2 ** 31)) continue;
      values.push(value);
      walk(end, part + 1, values);
      values.pop();
    }
  };
  walk(0, 0, []);
  if (problem) return problem;
  if (results.length > MAX_PARSES_PER_KEY) return `its key "${text}" splits too many ways`;
  return results;
}

/** A text JavaScript prints for some double (mldeploy's transform prints numbers this way). */
function printsAsDouble(piece: string): boolean {
  const value = Number(piece);
  return piece !== "" && Number.isFinite(value) && String(value) === piece;
}

// ---------------------------------------------------------------------------------------------
// Building.

class Names {
  private readonly used = new Set<string>();
  constructor(graph: RewriteGraph) {
    for (const value of [...graph.input, ...graph.output, ...graph.value_info])
      this.used.add(value.name);
    for (const tensor of graph.initializer) this.used.add(tensor.name);
    for (const node of graph.node)
      for (const name of [...node.input, ...node.output]) this.used.add(name);
  }
  has(name: string): boolean {
    return this.used.has(name);
  }
  take(name: string): void {
    this.used.add(name);
  }
  fresh(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9_]/g, "_") || "v";
    let name = base;
    for (let n = 1; this.used.has(name); n++) name = `${base}_${n}`;
    this.used.add(name);
    return name;
  }
}

/** New nodes and initializers, as schema messages (encodeRewritten writes them with the rest). */
class Built {
  readonly nodes: unknown[] = [];
  readonly initializers: unknown[] = [];
  constructor(private readonly names: Names) {}

  op(
    type: string,
    inputs: string[],
    hint: string,
    attributes: Array<Record<string, unknown>> = [],
    output?: string,
  ): string {
    const name = output ?? this.names.fresh(hint);
    this.nodes.push(
      messageType("onnx.NodeProto").fromObject({
        name: this.names.fresh(`${hint}_node`),
        op_type: type,
        input: inputs,
        output: [name],
        attribute: attributes,
      }),
    );
    return name;
  }

  int64(hint: string, value: number, dims: number[] = []): string {
    return this.constant(hint, { data_type: TensorDataType.INT64, dims, int64_data: [value] });
  }

  double(hint: string, value: number): string {
    return this.constant(hint, {
      data_type: TensorDataType.DOUBLE,
      dims: [],
      double_data: [value],
    });
  }

  private constant(hint: string, tensor: Record<string, unknown>): string {
    const name = this.names.fresh(hint);
    this.initializers.push(messageType("onnx.TensorProto").fromObject({ name, ...tensor }));
    return name;
  }
}

function messageType(name: string) {
  return onnxSchema().lookupType(name);
}

function castTo(elem: number): Record<string, unknown> {
  return { name: "to", type: AttributeType.INT, i: elem };
}

function buildFeature(built: Built, plan: FeaturePlan): void {
  if (plan.kind === "same") return;
  // The last node writes plan.value (the name the graph reads), with [N, 1] made where needed.
  const finish = (
    value: string,
    hint: string,
    type = "Identity",
    attrs: Array<Record<string, unknown>> = [],
  ): void => {
    if (plan.columnVector) {
      const shaped = type === "Identity" ? value : built.op(type, [value], hint, attrs);
      built.op(
        "Unsqueeze",
        [shaped, built.int64("axis_1", 1, [1])],
        `${plan.input}_2d`,
        [],
        plan.value,
      );
    } else {
      built.op(type, [value], hint, attrs, plan.value);
    }
  };
  switch (plan.kind) {
    case "column": {
      const from = ELEM_OF[plan.column.type];
      if (from === plan.elem) finish(plan.column.name, plan.input);
      else finish(plan.column.name, plan.input, "Cast", [castTo(plan.elem)]);
      return;
    }
    case "sum": {
      let sum: string | undefined;
      for (const part of plan.parts) {
        const term =
          typeof part === "number"
            ? built.double(`${plan.input}_constant`, part)
            : ELEM_OF[part.type] === TensorDataType.DOUBLE
              ? part.name
              : built.op("Cast", [part.name], `${part.name}_double`, [
                  castTo(TensorDataType.DOUBLE),
                ]);
        sum = sum === undefined ? term : built.op("Add", [sum, term], `${plan.input}_sum`);
      }
      if (plan.elem === TensorDataType.DOUBLE) finish(sum as string, plan.input);
      else finish(sum as string, plan.input, "Cast", [castTo(plan.elem)]);
      return;
    }
    case "keyed":
      buildKey(built, plan);
      return;
  }
}

/**
 * key = Σ clip(x_i) · stride_i where every x_i is an integer within [lo_i, hi_i], else noKey:
 * Clip keeps the arithmetic in range, Equal tells whether clipping changed x.
 */
function buildKey(built: Built, plan: FeaturePlan & { kind: "keyed" }): void {
  let key: string | undefined;
  let inRange: string | undefined;
  for (const column of plan.columns) {
    const name = column.spec.name;
    let clipped: string;
    let ok: string;
    if (column.spec.type === "double") {
      // floor(x) clipped equals x only for an integer within the range (never for NaN).
      const floor = built.op("Floor", [name], `${name}_floor`);
      const clip = built.op(
        "Clip",
        [floor, built.double(`${name}_lo`, column.lo), built.double(`${name}_hi`, column.hi)],
        `${name}_clipped`,
      );
      ok = built.op("Equal", [clip, name], `${name}_in_range`);
      clipped = built.op("Cast", [clip], `${name}_id`, [castTo(TensorDataType.INT64)]);
    } else {
      const wide =
        column.spec.type === "long"
          ? name
          : built.op("Cast", [name], `${name}_int64`, [castTo(TensorDataType.INT64)]);
      clipped = built.op(
        "Clip",
        [wide, built.int64(`${name}_lo`, column.lo), built.int64(`${name}_hi`, column.hi)],
        `${name}_clipped`,
      );
      ok = built.op("Equal", [clipped, wide], `${name}_in_range`);
    }
    let term = clipped;
    if (column.stride !== 1)
      term = built.op("Mul", [term, built.int64(`${name}_stride`, column.stride)], `${name}_digit`);
    key = key === undefined ? term : built.op("Add", [key, term], `${plan.input}_key`);
    inRange = inRange === undefined ? ok : built.op("And", [inRange, ok], `${plan.input}_in_range`);
  }
  const where = [inRange as string, key as string, built.int64(`${plan.input}_no_key`, plan.noKey)];
  const value = plan.columnVector
    ? built.op(
        "Unsqueeze",
        [built.op("Where", where, `${plan.input}_key`), built.int64("axis_1", 1, [1])],
        `${plan.input}_key_2d`,
        [],
        plan.value,
      )
    : built.op("Where", where, `${plan.input}_key`, [], plan.value);
  for (const encoder of plan.encoders) reKey(encoder, value);
}

/** The encoder looks the int64 key up instead of the text: same values, same default. */
function reKey(encoder: ReKeyedEncoder, input: string): void {
  const { node } = encoder;
  node.input = [input];
  const attributes = node.attribute.filter((a) => a.name !== "keys_strings");
  for (const attribute of attributes) {
    const pick = <T>(list: T[] | undefined): T[] | undefined =>
      list && encoder.sources.map((index) => list[index]);
    const record = attribute as unknown as {
      ints?: unknown[];
      floats?: number[];
      strings?: Uint8Array[];
    };
    if (attribute.name === "values_int64s") record.ints = pick(record.ints);
    if (attribute.name === "values_floats") record.floats = pick(record.floats);
    if (attribute.name === "values_strings") record.strings = pick(record.strings);
  }
  attributes.push(
    messageType("onnx.AttributeProto").fromObject({
      name: "keys_int64s",
      type: AttributeType.INTS,
      ints: encoder.keys,
    }) as unknown as (typeof attributes)[number],
  );
  node.attribute = attributes;
}

function renameValue(graph: RewriteGraph, from: string, to: string): void {
  const rename = (name: string) => (name === from ? to : name);
  for (const node of graph.node) {
    node.input = node.input.map(rename);
    node.output = node.output.map(rename);
  }
  for (const tensor of graph.initializer) tensor.name = rename(tensor.name);
  for (const value of [...graph.input, ...graph.value_info]) value.name = rename(value.name);
}

function inputValue(column: ColumnSpec): GraphValue {
  return messageType("onnx.ValueInfoProto").fromObject({
    name: column.name,
    type: {
      tensor_type: { elem_type: ELEM_OF[column.type], shape: { dim: [{ dim_param: "N" }] } },
    },
  }) as unknown as GraphValue;
}
