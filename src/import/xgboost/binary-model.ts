import { ImportError } from "../types.js";
import { checkTree, unsupportedBooster } from "./json-model.js";
import type { XgbModel, XgbTree } from "./model.js";
import { predTransform } from "./objectives.js";

/**
 * XGBoost's legacy ("deprecated") binary model format: what `save_model("model.xgb")`,
 * `save_raw()` and mlflow.xgboost's default model_format "xgb" write with XGBoost 1.x–2.x.
 * Little-endian structs written with dmlc::Stream (x86 never swaps: DMLC_IO_NO_ENDIAN_SWAP):
 *
 * - optional "binf" (LearnerIO::SaveModel(dmlc::Stream*), src/learner.cc)
 * - LearnerModelParamLegacy, 136 bytes: base_score f32, num_feature u32, num_class i32,
 *   contain_extra_attrs i32, contain_eval_metrics i32, major_version u32, minor_version u32,
 *   num_target u32, boost_from_average i32, reserved[25]
 * - objective and booster names (dmlc strings: u64 length + bytes)
 * - GBTreeModel::Load (src/gbm/gbtree_model.cc): GBTreeModelParam, 160 bytes (num_trees i32,
 *   num_parallel_tree i32, …, size_leaf_vector i32 at 28); per tree RegTree::Load
 *   (src/tree/tree_model.cc): TreeParam 148 bytes (num_nodes i32 at 4, num_deleted at 8,
 *   size_leaf_vector at 20), num_nodes × Node (20 bytes: parent i32, cleft i32, cright i32,
 *   sindex u32 — bit 31 is default_left —, split_cond/leaf_value f32;
 *   include/xgboost/tree_model.h), num_nodes × RTreeNodeStat (16 bytes, unused here);
 *   then tree_info, num_trees × i32
 * - dart (Dart::Load, src/gbm/gbtree.cc): weight_drop as a dmlc vector<float>
 * - when contain_extra_attrs: attributes as a dmlc vector<pair<string, string>>
 */
export function modelFromBinary(bytes: Uint8Array, source: string): XgbModel {
  const r = new BinaryReader(bytes, source);
  if (r.peekAscii(4) === "binf") r.skip(4);
  if (r.peekAscii(4) === "bs64") {
    throw new ImportError(`${source}: the base64 model format of XGBoost < 1.0 is not supported`);
  }
  const param = r.bytes(136, "learner parameters");
  const pv = new DataView(param.buffer, param.byteOffset, 136);
  const savedBaseScore = pv.getFloat32(0, true);
  const numFeature = pv.getUint32(4, true);
  const numClass = pv.getInt32(8, true);
  const containExtraAttrs = pv.getInt32(12, true);
  const majorVersion = pv.getUint32(20, true);
  const minorVersion = pv.getUint32(24, true);
  const numTarget = pv.getUint32(28, true);
  if (numClass < 0 || numClass > 1 << 20) r.fail(`num_class ${numClass} is not plausible`);
  if (numTarget > 1) {
    throw new ImportError(
      `${source}: a multi-target model (num_target ${numTarget}) is not supported`,
    );
  }
  const objective = r.string("objective name");
  const booster = r.string("booster name");
  if (booster !== "gbtree" && booster !== "dart") throw unsupportedBooster(booster, source);

  const gbParam = r.bytes(160, "gbtree parameters");
  const gv = new DataView(gbParam.buffer, gbParam.byteOffset, 160);
  const numTrees = gv.getInt32(0, true);
  const numParallelTree = Math.max(1, gv.getInt32(4, true));
  if (numTrees < 0 || numTrees > r.remaining() / (148 + 36)) {
    r.fail(`num_trees ${numTrees} does not fit the file`);
  }
  const trees: XgbTree[] = [];
  for (let t = 0; t < numTrees; t++) trees.push(readTree(r, t, source));
  const treeInfo: number[] = [];
  if (numTrees > 0) {
    const info = r.bytes(4 * numTrees, "tree_info");
    const iv = new DataView(info.buffer, info.byteOffset, info.byteLength);
    for (let t = 0; t < numTrees; t++) treeInfo.push(iv.getInt32(4 * t, true));
  }
  let weightDrop: number[] | undefined;
  if (booster === "dart" && numTrees > 0) {
    const n = r.u64("weight_drop length");
    if (n !== numTrees) r.fail(`weight_drop has ${n} weights for ${numTrees} trees`);
    const data = r.bytes(4 * n, "weight_drop");
    const wv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    weightDrop = Array.from({ length: n }, (_, i) => wv.getFloat32(4 * i, true));
  }
  const attributes: Record<string, string> = {};
  if (containExtraAttrs !== 0) {
    const n = r.u64("attribute count");
    if (n > r.remaining() / 16) r.fail(`attribute count ${n} does not fit the file`);
    for (let i = 0; i < n; i++) {
      const key = r.string("attribute name");
      attributes[key] = r.string(`attribute "${key}"`);
    }
  }

  // Before 1.0.0, base_score was saved after the objective's transformation (LearnerIO::
  // LoadModel undoes it with PredTransform, except for multi-class objectives).
  const baseScore =
    majorVersion < 1 && !objective.startsWith("multi:")
      ? predTransform(objective, savedBaseScore)
      : savedBaseScore;
  return {
    objective,
    booster,
    numFeature,
    numClass,
    baseScore: [baseScore],
    trees,
    treeInfo,
    weightDrop,
    numParallelTree,
    attributes,
    version: majorVersion > 0 ? [majorVersion, minorVersion] : undefined,
  };
}

function readTree(r: BinaryReader, t: number, source: string): XgbTree {
  const param = r.bytes(148, `tree ${t} parameters`);
  const tv = new DataView(param.buffer, param.byteOffset, 148);
  const numNodes = tv.getInt32(4, true);
  const sizeLeafVector = tv.getInt32(20, true);
  if (numNodes <= 0 || numNodes * 36 > r.remaining()) {
    r.fail(`tree ${t} has ${numNodes} nodes, which do not fit the file`);
  }
  if (sizeLeafVector > 1) {
    throw new ImportError(`${source}: tree ${t} is a multi-target tree; not supported`);
  }
  const nodes = r.bytes(20 * numNodes, `tree ${t} nodes`);
  r.bytes(16 * numNodes, `tree ${t} statistics`);
  const nv = new DataView(nodes.buffer, nodes.byteOffset, nodes.byteLength);
  const tree: XgbTree = {
    left: new Int32Array(numNodes),
    right: new Int32Array(numNodes),
    splitIndex: new Uint32Array(numNodes),
    splitCondition: new Float32Array(numNodes),
    defaultLeft: new Uint8Array(numNodes),
  };
  for (let i = 0; i < numNodes; i++) {
    const at = 20 * i;
    tree.left[i] = nv.getInt32(at + 4, true);
    tree.right[i] = nv.getInt32(at + 8, true);
    const sindex = nv.getUint32(at + 12, true);
    tree.splitIndex[i] = sindex & 0x7fffffff;
    tree.defaultLeft[i] = sindex >>> 31;
    tree.splitCondition[i] = nv.getFloat32(at + 16, true);
  }
  checkTree(tree, `tree ${t}`, source);
  return tree;
}

class BinaryReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(
    private readonly data: Uint8Array,
    private readonly source: string,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  fail(problem: string): never {
    throw new ImportError(
      `${this.source}: not a valid XGBoost binary model (${problem} at byte ${this.pos})`,
    );
  }

  remaining(): number {
    return this.data.length - this.pos;
  }

  peekAscii(n: number): string {
    return String.fromCharCode(...this.data.subarray(this.pos, this.pos + n));
  }

  skip(n: number): void {
    this.bytes(n, "header");
  }

  bytes(n: number, what: string): Uint8Array {
    if (n > this.remaining()) this.fail(`truncated while reading ${what}`);
    this.pos += n;
    return this.data.subarray(this.pos - n, this.pos);
  }

  u64(what: string): number {
    const raw = this.bytes(8, what);
    const value = new DataView(raw.buffer, raw.byteOffset, 8).getBigUint64(0, true);
    if (value > BigInt(this.remaining() + 1_000_000)) this.fail(`${what} ${value} is implausible`);
    return Number(value);
  }

  string(what: string): string {
    const n = this.u64(`${what} length`);
    if (n > this.remaining()) this.fail(`truncated while reading ${what}`);
    const raw = this.bytes(n, what);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(raw);
    } catch {
      return this.fail(`${what} is not text`);
    }
  }
}

/**
 * The serialization XGBoost 1.0 wrote for pickles before the JSON snapshot:
 * "CONFIG-offset:" + i64 length of the binary model + the binary model + JSON configuration
 * (LearnerIO::Load, src/learner.cc). Only the model part matters for predictions.
 */
export function modelFromConfigOffset(bytes: Uint8Array, source: string): XgbModel {
  const header = "CONFIG-offset:".length;
  if (bytes.length < header + 8) {
    throw new ImportError(`${source}: truncated serialized booster`);
  }
  const size = new DataView(bytes.buffer, bytes.byteOffset + header, 8).getBigInt64(0, true);
  if (size <= 0n || size > BigInt(bytes.length - header - 8)) {
    throw new ImportError(`${source}: serialized booster's model size ${size} does not fit`);
  }
  return modelFromBinary(bytes.subarray(header + 8, header + 8 + Number(size)), source);
}
