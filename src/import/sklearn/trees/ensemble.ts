import type { GraphBuilder } from "../../onnx/graph.js";
import { ImportError } from "../../types.js";
import type { FeatureMatrix } from "../stage.js";
import type { TreeArrays } from "./tree.js";

/**
 * Trees in ONNX with float64 leaf values.
 *
 * ai.onnx.ml TreeEnsembleRegressor (opset 3) compares in float64 when its input is double and
 * its thresholds come as nodes_values_as_tensor, but its output Y is float32 whatever the
 * weights' type (the schema says so and onnxruntime does it): leaf values would be rounded to
 * 24 bits. So the ensemble does not output leaf values: each tree writes, into its own target
 * column, the index of the leaf it reaches (an integer, exact in float32 below 2^24); a Gather
 * then reads the float64 leaf values from a table. Per row: one traversal per tree (as
 * TreeEnsembleRegressor alone), one Cast and one Gather of T values.
 *
 * Semantics as scikit-learn's Tree.apply: X is cast to float32 first, `x <= threshold` goes
 * left (BRANCH_LEQ, true branch = left; the float64 threshold is rounded down to float32, which
 * for a float32 x decides exactly as the float64 comparison does, and lets onnxruntime walk
 * float32 nodes: ~25% more rows per second than float64 ones on the MLflow forest), NaN follows
 * missing_go_to_left where the tree has it (nodes_missing_value_tracks_true). A split on an
 * indicator column (X[:, j] = code == c, values 0/1) with threshold t is "code != c goes left"
 * for 0 ≤ t < 1 (BRANCH_NEQ), always left for t ≥ 1 and always right for t < 0 (the split is
 * left out of the graph), so cost per row does not grow with the number of categories.
 */

/** What each leaf holds in the table: `width` float64 values. */
export interface LeafValues {
  width: number;
  /** Writes tree t's leaf `node` values into out[at .. at + width). */
  write(t: number, node: number, out: Float64Array, at: number): void;
}

/** Leaf ids are global (one Gather, no Add) while they stay exact in float32. */
const FLOAT32_EXACT = 2 ** 24;

/**
 * Nodes per TreeEnsembleRegressor (see ensembleOperator). Measured on the MLflow forest (100
 * trees, ~1,260 nodes each), one thread, rows per CPU-second on 200,000 rows: all 100 trees in one
 * operator ~125k, 20 trees ~145k, 1 tree ~175k; a single-row call costs ~25 µs with 20 or 100
 * trees per operator, ~60 µs with one (100 operators). A budget of 2^15 nodes (~1 MiB of
 * onnxruntime nodes, an L2 cache) keeps most of the gain at few operators.
 */
const NODES_PER_OPERATOR = 2 ** 15;

const MODE_LEAF = 0;
const MODE_LEQ = 1;
const MODE_NEQ = 2;
const MODE_NAMES = ["LEAF", "BRANCH_LEQ", "BRANCH_NEQ"];

/**
 * Adds the trees to the graph and returns the leaf values each row reaches: [N, T] DOUBLE when
 * leaves.width is 1, [N, T, width] otherwise (T = trees.length, in the order given).
 */
export function treeLeafValues(
  graph: GraphBuilder,
  X: FeatureMatrix,
  trees: TreeArrays[],
  leaves: LeafValues,
  options: { globalLeafIdLimit?: number; nodesPerOperator?: number } = {},
): string {
  const flat = flattenTrees(X, trees, leaves);
  const input = graph.op("Cast", [X.value], { to: { int: 1 } }, { output: "x_float32" });
  const useGlobal = flat.leafCount <= (options.globalLeafIdLimit ?? FLOAT32_EXACT);
  if (!useGlobal && flat.maxLeavesPerTree > FLOAT32_EXACT) {
    throw new ImportError(
      `a tree has ${flat.maxLeavesPerTree} leaves; mldeploy converts trees of up to 2^24 leaves`,
    );
  }
  const treeCount = trees.length;
  const budget = options.nodesPerOperator ?? NODES_PER_OPERATOR;
  const parts: string[] = [];
  for (let first = 0; first < treeCount;) {
    let last = first + 1;
    while (last < treeCount && flat.treeNodeStart[last + 1] - flat.treeNodeStart[first] <= budget) {
      last++;
    }
    parts.push(ensembleOperator(graph, input, flat, first, last, useGlobal));
    first = last;
  }
  const leafIds =
    parts.length === 1
      ? parts[0]
      : graph.op("Concat", parts, { axis: { int: 1 } }, { output: "tree_leaf_ids" });
  let index = graph.op("Cast", [leafIds], { to: { int: 7 } }, { output: "tree_leaf_index" });
  if (!useGlobal) {
    const offsets = graph.constant("tree_leaf_offsets", "INT64", [treeCount], flat.leafOffset);
    index = graph.op("Add", [index, offsets], {}, { output: "tree_leaf_index_global" });
  }
  const tableDims = leaves.width === 1 ? [flat.leafCount] : [flat.leafCount, leaves.width];
  const table = graph.constant(
    "tree_leaf_values",
    "DOUBLE",
    tableDims,
    flat.leafTable.subarray(0, flat.leafCount * leaves.width),
  );
  return graph.op("Gather", [table, index], { axis: { int: 0 } }, { output: "tree_leaf_value" });
}

/**
 * One TreeEnsembleRegressor for trees [first, last): target column t - first gets tree t's
 * leaf id. onnxruntime walks an operator's trees row by row, so all of an operator's nodes
 * compete for the cache at every row; a few trees per operator keep them cached across rows.
 */
function ensembleOperator(
  graph: GraphBuilder,
  input: string,
  flat: FlatTrees,
  first: number,
  last: number,
  useGlobal: boolean,
): string {
  const n0 = flat.treeNodeStart[first];
  const n1 = flat.treeNodeStart[last];
  const t0 = flat.treeTargetStart[first];
  const t1 = flat.treeTargetStart[last];
  const shift = (values: Int32Array, from: number, to: number): number[] => {
    const out = new Array<number>(to - from);
    for (let i = from; i < to; i++) out[i - from] = values[i] - first;
    return out;
  };
  const ints = (values: Int32Array | Uint8Array, from: number, to: number): number[] =>
    Array.from(values.subarray(from, to));
  const weights = new Float64Array(t1 - t0);
  for (let i = t0; i < t1; i++) {
    const leaf = flat.targetLeaf[i];
    weights[i - t0] = useGlobal ? leaf : leaf - flat.leafOffset[flat.targetTree[i]];
  }
  const modes = new Array<string>(n1 - n0);
  for (let i = n0; i < n1; i++) {
    modes[i - n0] = MODE_NAMES[flat.nodeMode[i]];
    // Category codes are compared as float32: exact below 2^24.
    if (flat.nodeMode[i] === MODE_NEQ && flat.nodeValue[i] >= FLOAT32_EXACT) {
      throw new ImportError(
        `a tree splits on category code ${flat.nodeValue[i]}; mldeploy converts up to 2^24 categories per column`,
      );
    }
  }
  const attributes: Parameters<GraphBuilder["node"]>[2] = {
    n_targets: { int: last - first },
    aggregate_function: { string: "SUM" },
    post_transform: { string: "NONE" },
    nodes_treeids: { ints: shift(flat.nodeTree, n0, n1) },
    nodes_nodeids: { ints: ints(flat.nodeId, n0, n1) },
    nodes_featureids: { ints: ints(flat.nodeFeature, n0, n1) },
    nodes_modes: { strings: modes },
    nodes_values: { floats: float32Thresholds(flat.nodeValue.subarray(n0, n1)) },
    nodes_truenodeids: { ints: ints(flat.nodeTrue, n0, n1) },
    nodes_falsenodeids: { ints: ints(flat.nodeFalse, n0, n1) },
    ...(flat.anyMissingLeft
      ? { nodes_missing_value_tracks_true: { ints: ints(flat.nodeMissingTrue, n0, n1) } }
      : {}),
    target_ids: { ints: shift(flat.targetTree, t0, t1) },
    target_treeids: { ints: shift(flat.targetTree, t0, t1) },
    target_nodeids: { ints: ints(flat.targetNode, t0, t1) },
    target_weights: { floats: Array.from(weights) },
  };
  return graph.op("TreeEnsembleRegressor", [input], attributes, {
    domain: "ai.onnx.ml",
    output: `tree_leaf_ids_${first}`,
  });
}

/**
 * For a float32 x, x <= t (t a float64) exactly when x <= the largest float32 not above t:
 * thresholds rounded down to float32 keep scikit-learn's comparisons while letting
 * onnxruntime walk float32 nodes (half the memory of float64 ones).
 */
function float32Thresholds(values: Float64Array): number[] {
  const out = new Array<number>(values.length);
  const scratch = new Float32Array(1);
  const bits = new Int32Array(scratch.buffer);
  for (let i = 0; i < values.length; i++) {
    const t = values[i];
    scratch[0] = t;
    if (scratch[0] > t) {
      // One float32 step towards -infinity.
      if (scratch[0] === 0) scratch[0] = -(2 ** -149);
      else bits[0] += scratch[0] > 0 ? -1 : 1;
    }
    out[i] = scratch[0];
  }
  return out;
}

interface FlatTrees {
  nodeCount: number;
  nodeTree: Int32Array;
  nodeId: Int32Array;
  nodeFeature: Int32Array;
  nodeMode: Uint8Array;
  nodeValue: Float64Array;
  nodeTrue: Int32Array;
  nodeFalse: Int32Array;
  nodeMissingTrue: Uint8Array;
  anyMissingLeft: boolean;
  targetCount: number;
  targetTree: Int32Array;
  targetNode: Int32Array;
  /** Global leaf index of each target entry. */
  targetLeaf: Float64Array;
  leafCount: number;
  leafOffset: Float64Array;
  /** Where tree t's nodes / targets start in the arrays above (index T = the end). */
  treeNodeStart: Int32Array;
  treeTargetStart: Int32Array;
  maxLeavesPerTree: number;
  leafTable: Float64Array;
}

/** Every tree's reachable nodes as ONNX's parallel node / target arrays, plus the leaf table. */
function flattenTrees(X: FeatureMatrix, trees: TreeArrays[], leaves: LeafValues): FlatTrees {
  let capacity = 0;
  for (const tree of trees) capacity += tree.nodeCount;
  const flat: FlatTrees = {
    nodeCount: 0,
    nodeTree: new Int32Array(capacity),
    nodeId: new Int32Array(capacity),
    nodeFeature: new Int32Array(capacity),
    nodeMode: new Uint8Array(capacity),
    nodeValue: new Float64Array(capacity),
    nodeTrue: new Int32Array(capacity),
    nodeFalse: new Int32Array(capacity),
    nodeMissingTrue: new Uint8Array(capacity),
    anyMissingLeft: false,
    targetCount: 0,
    targetTree: new Int32Array(capacity),
    targetNode: new Int32Array(capacity),
    targetLeaf: new Float64Array(capacity),
    leafCount: 0,
    leafOffset: new Float64Array(trees.length),
    treeNodeStart: new Int32Array(trees.length + 1),
    treeTargetStart: new Int32Array(trees.length + 1),
    maxLeavesPerTree: 0,
    leafTable: new Float64Array(capacity * leaves.width),
  };
  const features = X.features;
  // Explicit stack of (sklearn node, ONNX node id): trees 20+ deep, no recursion.
  const stackNode = new Int32Array(capacity + 1);
  const stackId = new Int32Array(capacity + 1);

  trees.forEach((tree, t) => {
    const { left, right, feature, threshold, missingGoToLeft } = tree;
    /** Skips indicator splits whose outcome does not depend on the row. */
    const resolve = (start: number): number => {
      let n = start;
      while (left[n] !== -1) {
        const f = features[feature[n]];
        if (f === undefined) {
          throw new ImportError(
            `a tree splits on column ${feature[n]} of X, but X has ${features.length} columns`,
          );
        }
        if (f.kind !== "indicator") break;
        const cut = threshold[n];
        if (cut >= 1) n = left[n];
        else if (cut < 0) n = right[n];
        else break;
      }
      return n;
    };
    flat.leafOffset[t] = flat.leafCount;
    flat.treeNodeStart[t] = flat.nodeCount;
    flat.treeTargetStart[t] = flat.targetCount;
    const firstLeaf = flat.leafCount;
    let nextId = 1;
    let top = 0;
    stackNode[0] = resolve(0);
    stackId[0] = 0;
    top = 1;
    while (top > 0) {
      top--;
      const n = stackNode[top];
      const id = stackId[top];
      const at = flat.nodeCount++;
      flat.nodeTree[at] = t;
      flat.nodeId[at] = id;
      if (left[n] === -1) {
        flat.nodeMode[at] = MODE_LEAF;
        const target = flat.targetCount++;
        flat.targetTree[target] = t;
        flat.targetNode[target] = id;
        flat.targetLeaf[target] = flat.leafCount;
        leaves.write(t, n, flat.leafTable, flat.leafCount * leaves.width);
        flat.leafCount++;
        continue;
      }
      const f = features[feature[n]];
      const leftChild = resolve(left[n]);
      const rightChild = resolve(right[n]);
      const leftId = nextId++;
      const rightId = nextId++;
      flat.nodeFeature[at] = f.column;
      flat.nodeTrue[at] = leftId;
      flat.nodeFalse[at] = rightId;
      if (f.kind === "indicator") {
        // X[:, j] <= t with X[:, j] in {0, 1} and 0 <= t < 1: left exactly when the code differs.
        flat.nodeMode[at] = MODE_NEQ;
        flat.nodeValue[at] = f.code;
      } else {
        flat.nodeMode[at] = MODE_LEQ;
        flat.nodeValue[at] = threshold[n];
        if (missingGoToLeft && missingGoToLeft[n]) {
          flat.nodeMissingTrue[at] = 1;
          flat.anyMissingLeft = true;
        }
      }
      stackNode[top] = rightChild;
      stackId[top] = rightId;
      top++;
      stackNode[top] = leftChild;
      stackId[top] = leftId;
      top++;
    }
    flat.maxLeavesPerTree = Math.max(flat.maxLeavesPerTree, flat.leafCount - firstLeaf);
  });
  flat.treeNodeStart[trees.length] = flat.nodeCount;
  flat.treeTargetStart[trees.length] = flat.targetCount;
  return flat;
}
