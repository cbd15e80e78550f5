/**
 * An XGBoost learner as mldeploy needs it to predict, whichever file format it came from
 * (JSON, UBJSON, the legacy binary format, a pickled Booster's snapshot).
 */
export interface XgbModel {
  /** The objective's name, e.g. "reg:squarederror", "binary:logistic", "multi:softprob". */
  objective: string;
  /** "gbtree" or "dart" (gblinear is refused while reading). */
  booster: "gbtree" | "dart";
  numFeature: number;
  /** 0 for a single-output model. */
  numClass: number;
  /**
   * The global bias in the objective's output space (XGBoost converts it to a margin with the
   * objective's ProbToMargin). One value, or one per output group (XGBoost ≥ 3.1's vector
   * intercept).
   */
  baseScore: number[];
  featureNames?: string[];
  featureTypes?: string[];
  trees: XgbTree[];
  /** The output group (class) each tree adds to. */
  treeInfo: number[];
  /** dart only: each tree's weight. */
  weightDrop?: number[];
  /** Trees grown per boosting round and group (a boosted random forest has more than one). */
  numParallelTree: number;
  /** XGBoost ≥ 2.0: tree index where each boosting round starts (length rounds + 1). */
  iterationIndptr?: number[];
  /** Learner attributes (best_iteration, …). */
  attributes: Record<string, string>;
  /** [major, minor, patch] when the file says. */
  version?: number[];
}

/** One regression tree in XGBoost's array layout (RegTree): node i's fields at index i. */
export interface XgbTree {
  /** Left child, -1 for a leaf. */
  left: Int32Array;
  right: Int32Array;
  splitIndex: Uint32Array;
  /** A split node's threshold (x < t goes left), a leaf's value: float32 as XGBoost keeps it. */
  splitCondition: Float32Array;
  /** Where a missing value goes. */
  defaultLeft: Uint8Array;
}

/** Number of output groups (margins) the trees add to. */
export function outputGroups(model: XgbModel): number {
  return Math.max(1, model.numClass);
}
