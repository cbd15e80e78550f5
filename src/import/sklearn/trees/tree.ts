import {
  arrayAttr,
  fieldFloat64,
  isNdArray,
  numberAttr,
  objectAttr,
  scalarNumber,
  shortName,
  toFloat64,
} from "../../pickle/access.js";
import type { NdArray, PyObject } from "../../pickle/values.js";
import { ImportError } from "../../types.js";

/**
 * One fitted scikit-learn tree (sklearn.tree._tree.Tree) as parallel typed arrays.
 *
 * Pickled by Tree.__reduce__ as REDUCE(Tree, (n_features, n_classes, n_outputs)) and BUILD
 * {max_depth, node_count, nodes, values}: `nodes` a structured array of NODE_DTYPE (left_child,
 * right_child, feature, threshold, impurity, n_node_samples, weighted_n_node_samples, and from
 * scikit-learn 1.3 missing_go_to_left), `values` float64 of shape (capacity, n_outputs,
 * max_n_classes). See Tree.__getstate__ / __setstate__ in sklearn/tree/_tree.pyx.
 */
export interface TreeArrays {
  nodeCount: number;
  /** Child node ids; -1 at leaves. A child's id is always greater than its parent's. */
  left: Int32Array;
  right: Int32Array;
  /** Column of X a split reads. */
  feature: Int32Array;
  /** A split sends x to the left when float32(x) <= threshold (a float64). */
  threshold: Float64Array;
  /**
   * scikit-learn ≥ 1.3: 1 where a NaN goes to the left child. Absent before 1.3, whose predict
   * refuses NaN.
   */
  missingGoToLeft?: Uint8Array;
  /** value[node * width + k]: a regressor's mean (width 1), a classifier's class weights. */
  values: Float64Array;
  /** max_n_classes: 1 for regression trees. */
  width: number;
  /** Depth as fitted (tree_.max_depth). */
  maxDepth: number;
}

/** Reads `estimator.tree_`, refusing multi-output trees and inconsistent node arrays. */
export function readTree(estimator: PyObject): TreeArrays {
  const owner = shortName(estimator.className);
  const tree = objectAttr(estimator, "tree_", "Tree");
  const nOutputs = scalarNumber(tree.args[2]);
  const nClassesArg = tree.args[1];
  if (nOutputs === undefined || !isNdArray(nClassesArg)) {
    throw new ImportError(
      `${owner}: tree_ was not pickled as Tree(n_features, n_classes, n_outputs); ` +
        `this layout is not one of scikit-learn 1.0–1.6 that mldeploy reads`,
    );
  }
  if (nOutputs !== 1) {
    throw new ImportError(
      `${owner}: multi-output trees (n_outputs=${nOutputs}) are not supported; ` +
        `mldeploy converts trees fitted on a single target`,
    );
  }
  const width = Math.max(...toFloat64(nClassesArg));
  const nodeCount = numberAttr(tree, "node_count");
  const maxDepth = numberAttr(tree, "max_depth");
  const nodes = arrayAttr(tree, "nodes");
  const values = arrayAttr(tree, "values");
  const capacity = nodes.shape[0] ?? 0;
  if (!(nodeCount >= 1 && nodeCount <= capacity)) {
    throw new ImportError(
      `${owner}: tree_ has node_count ${nodeCount} but ${capacity} nodes; the file is damaged`,
    );
  }
  const valueShape = values.shape.join(",");
  if (valueShape !== `${capacity},1,${width}`) {
    throw new ImportError(
      `${owner}: tree_.values has shape (${valueShape}), expected (${capacity}, 1, ${width})`,
    );
  }
  const left = intField(nodes, "left_child", nodeCount);
  const right = intField(nodes, "right_child", nodeCount);
  const feature = intField(nodes, "feature", nodeCount);
  const threshold = floatField(nodes, "threshold", nodeCount);
  const missing = nodes.dtype.fields?.has("missing_go_to_left")
    ? Uint8Array.from(floatField(nodes, "missing_go_to_left", nodeCount))
    : undefined;
  for (let n = 0; n < nodeCount; n++) {
    const l = left[n];
    const r = right[n];
    const leaf = l === -1 && r === -1;
    // Children after their parent (as every sklearn builder adds them) also proves the walk ends.
    if (!leaf && !(l > n && r > n && l < nodeCount && r < nodeCount && feature[n] >= 0)) {
      throw new ImportError(
        `${owner}: tree_ node ${n} has children (${l}, ${r}) and feature ${feature[n]}, ` +
          `which no fitted tree has; the file is damaged`,
      );
    }
  }
  return {
    nodeCount,
    left,
    right,
    feature,
    threshold,
    ...(missing ? { missingGoToLeft: missing } : {}),
    values: toFloat64(values).subarray(0, nodeCount * width),
    width,
    maxDepth,
  };
}

/** The trees of a list of fitted DecisionTree* estimators (a forest's estimators_). */
export function readTrees(owner: PyObject, estimators: unknown[]): TreeArrays[] {
  return estimators.map((estimator, i) => {
    if (
      typeof estimator !== "object" ||
      estimator === null ||
      (estimator as PyObject).kind !== "object"
    ) {
      throw new ImportError(
        `${shortName(owner.className)}: estimators_[${i}] is not a fitted tree`,
      );
    }
    return readTree(estimator as PyObject);
  });
}

/**
 * A structured field read straight from the record bytes: the common little-endian int64 /
 * float64 / uint8 layouts without a DataView per record (a 100-tree forest has ~10^6 nodes).
 */
function intField(nodes: NdArray, name: string, count: number): Int32Array {
  const raw = rawField(nodes, name);
  const out = new Int32Array(count);
  if (raw && raw.code === "<i8") {
    const { view, stride, offset } = raw;
    for (let r = 0; r < count; r++) {
      const at = r * stride + offset;
      const low = view.getInt32(at, true);
      const high = view.getInt32(at + 4, true);
      // Node ids and features fit in int32: the high word is only the sign extension.
      if (high !== low >> 31)
        throw new ImportError(`tree node ${name} ${high}:${low} out of range`);
      out[r] = low;
    }
    return out;
  }
  const values = floatField(nodes, name, count);
  for (let r = 0; r < count; r++) out[r] = values[r];
  return out;
}

function floatField(nodes: NdArray, name: string, count: number): Float64Array {
  const raw = rawField(nodes, name);
  if (raw && raw.code === "<f8") {
    const { view, stride, offset } = raw;
    const out = new Float64Array(count);
    for (let r = 0; r < count; r++) out[r] = view.getFloat64(r * stride + offset, true);
    return out;
  }
  if (raw && (raw.code === "|u1" || raw.code === "|b1")) {
    const { view, stride, offset } = raw;
    const out = new Float64Array(count);
    for (let r = 0; r < count; r++) out[r] = view.getUint8(r * stride + offset);
    return out;
  }
  return fieldFallback(nodes, name, count);
}

function rawField(
  nodes: NdArray,
  name: string,
): { code: string; view: DataView; stride: number; offset: number } | undefined {
  const spec = nodes.dtype.fields?.get(name);
  if (!spec) {
    throw new ImportError(
      `tree_.nodes has no field "${name}" (it has ${nodes.dtype.names?.join(", ") ?? "no fields"}); ` +
        `this layout is not one of scikit-learn 1.0–1.6 that mldeploy reads`,
    );
  }
  if (Array.isArray(nodes.data) || nodes.fortranOrder) return undefined;
  const bytes = nodes.data;
  const code = spec.dtype.str === "=i8" ? "<i8" : spec.dtype.str === "=f8" ? "<f8" : spec.dtype.str;
  return {
    code,
    view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    stride: nodes.dtype.itemsize,
    offset: spec.offset,
  };
}

/** Any other layout (big-endian, int32 on 32-bit builds): the generic accessor. */
function fieldFallback(nodes: NdArray, name: string, count: number): Float64Array {
  return fieldFloat64(nodes, name).subarray(0, count);
}
