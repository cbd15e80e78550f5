import type { GraphBuilder } from "../onnx/graph.js";
import type { FeatureColumn } from "../sklearn/stage.js";
import { ImportError } from "../types.js";
import { outputGroups, type XgbModel } from "./model.js";
import { probToMargin } from "./objectives.js";

/** Where the trees read their features, and how XGBoost saw them. */
export interface TreeInput {
  /** [N, width] DOUBLE. */
  value: string;
  width: number;
  /** For XGBoost's feature j, where it comes from (a value column or a one-hot indicator). */
  features: FeatureColumn[];
  /**
   * True when XGBoost was fitted on a sparse matrix (DictVectorizer(sparse=True)): an
   * indicator that is 0 was absent from the CSR matrix, which XGBoost treats as MISSING (the
   * default direction), not as the value 0.
   */
  absentIsMissing?: boolean;
  /** With absentIsMissing: numeric zeros were not stored either, so a value 0 is missing too. */
  zerosAbsent?: boolean;
  /** The scikit-learn wrapper's `missing` when it is a number (NaN is always missing). */
  missing?: number;
}

/**
 * The trees' margins, [N, groups] FLOAT, as XGBoost's predictor computes them: features cast
 * to float32, `x < split_condition` goes left, a missing value (NaN) goes to the default
 * child (nodes_missing_value_tracks_true = default_left), leaf values summed in float32 per
 * output group (tree_info) on top of base_score's margin. A one-hot indicator is not
 * materialized: the tree compares the category code (BRANCH_EQ) and sends "is that category"
 * and "is not" where XGBoost would send the values 1 and 0 (or missing).
 *
 * `rounds` limits the trees to the first boosting rounds (the sklearn wrapper's best_iteration).
 * `inplace`: the scikit-learn wrappers predict numpy input with Booster.inplace_predict, whose
 * dart path adds each tree as ((base + leaf) - base) × weight in float32 (Dart::InplacePredict,
 * src/gbm/gbtree.cc), where Booster.predict(DMatrix) adds leaf × weight.
 */
export function treeMargins(
  graph: GraphBuilder,
  model: XgbModel,
  input: TreeInput,
  source: string,
  options: { rounds?: number; inplace?: boolean } = {},
): string {
  const groups = outputGroups(model);
  const treeCount = treesFor(model, options.rounds);
  if (treeCount === 0) throw new ImportError(`${source}: the model has no trees`);

  const nodes = {
    treeids: [] as number[],
    nodeids: [] as number[],
    featureids: [] as number[],
    values: [] as number[],
    modes: [] as string[],
    truenodeids: [] as number[],
    falsenodeids: [] as number[],
    missingTracksTrue: [] as number[],
  };
  const targets = {
    treeids: [] as number[],
    nodeids: [] as number[],
    ids: [] as number[],
    weights: [] as number[],
  };
  const missing = input.missing;
  const isMissing = (v: number) => missing !== undefined && v === Math.fround(missing);

  // XGBoost starts each row's sum at the base margin and adds the trees in order, in float32.
  // onnxruntime adds base_values after the trees; a first tree that is one leaf worth the
  // base margin (per group) keeps XGBoost's order instead. The sums agree bit for bit when
  // onnxruntime adds a row's trees in order (one thread, or no more trees than threads); with
  // more trees than threads it sums a chunk of trees per thread and then the chunks, a few
  // float32 roundings away.
  const baseMargins = Array.from({ length: groups }, (_, g) =>
    probToMargin(model.objective, model.baseScore[model.baseScore.length === 1 ? 0 : g]),
  );
  const pushLeaf = (treeId: number, nodeId: number) => {
    nodes.treeids.push(treeId);
    nodes.nodeids.push(nodeId);
    nodes.featureids.push(0);
    nodes.values.push(0);
    nodes.modes.push("LEAF");
    nodes.truenodeids.push(0);
    nodes.falsenodeids.push(0);
    nodes.missingTracksTrue.push(0);
  };
  pushLeaf(0, 0);
  baseMargins.forEach((margin, group) => {
    targets.treeids.push(0);
    targets.nodeids.push(0);
    targets.ids.push(group);
    targets.weights.push(margin);
  });

  for (let t = 0; t < treeCount; t++) {
    const tree = model.trees[t];
    const treeId = t + 1;
    const group = model.treeInfo[t];
    if (!(group >= 0 && group < groups)) {
      throw new ImportError(`${source}: tree ${t} adds to output group ${group} of ${groups}`);
    }
    const weight = model.weightDrop?.[t] ?? 1;
    const stack = [0];
    while (stack.length > 0) {
      const i = stack.pop() as number;
      const left = tree.left[i];
      const right = tree.right[i];
      if (left === -1) {
        pushLeaf(treeId, i);
        targets.treeids.push(treeId);
        targets.nodeids.push(i);
        targets.ids.push(group);
        // dart: XGBoost multiplies each tree's output by its weight, in float32.
        const leaf = tree.splitCondition[i];
        const f = Math.fround;
        const value = options.inplace ? f(f(baseMargins[0] + leaf) - baseMargins[0]) : leaf;
        targets.weights.push(model.weightDrop ? f(value * f(weight)) : leaf);
        continue;
      }
      stack.push(right, left);
      nodes.treeids.push(treeId);
      nodes.nodeids.push(i);
      const split = tree.splitCondition[i];
      const defaultChild = tree.defaultLeft[i] ? left : right;
      const feature = input.features[tree.splitIndex[i]];
      if (!feature) {
        throw new ImportError(
          `${source}: tree ${t} splits on feature ${tree.splitIndex[i]}, but the model has ` +
            `${input.features.length} input features`,
        );
      }
      nodes.featureids.push(feature.column);
      if (feature.kind === "value") {
        nodes.modes.push("BRANCH_LT");
        nodes.values.push(split);
        nodes.truenodeids.push(left);
        nodes.falsenodeids.push(right);
        nodes.missingTracksTrue.push(tree.defaultLeft[i]);
      } else {
        // X[:, j] is 1 for this category, otherwise 0 — or absent (missing) in a sparse fit.
        const go = (v: number) => (isMissing(v) ? defaultChild : v < split ? left : right);
        nodes.modes.push("BRANCH_EQ");
        nodes.values.push(feature.code);
        nodes.truenodeids.push(go(1));
        nodes.falsenodeids.push(input.absentIsMissing ? defaultChild : go(0));
        nodes.missingTracksTrue.push(0);
      }
    }
  }

  const x = floatFeatures(graph, input);
  return graph.op(
    "TreeEnsembleRegressor",
    [x],
    {
      n_targets: { int: groups },
      aggregate_function: { string: "SUM" },
      post_transform: { string: "NONE" },
      nodes_treeids: { ints: nodes.treeids },
      nodes_nodeids: { ints: nodes.nodeids },
      nodes_featureids: { ints: nodes.featureids },
      nodes_values: { floats: nodes.values },
      nodes_modes: { strings: nodes.modes },
      nodes_truenodeids: { ints: nodes.truenodeids },
      nodes_falsenodeids: { ints: nodes.falsenodeids },
      nodes_missing_value_tracks_true: { ints: nodes.missingTracksTrue },
      target_treeids: { ints: targets.treeids },
      target_nodeids: { ints: targets.nodeids },
      target_ids: { ints: targets.ids },
      target_weights: { floats: targets.weights },
    },
    { output: "margin", domain: "ai.onnx.ml" },
  );
}

/** How many trees the first `rounds` boosting rounds hold (all when undefined). */
export function treesFor(model: XgbModel, rounds?: number): number {
  const total = model.trees.length;
  if (rounds === undefined) return total;
  if (model.iterationIndptr && model.iterationIndptr.length > rounds) {
    return Math.min(total, model.iterationIndptr[rounds]);
  }
  return Math.min(total, rounds * model.numParallelTree * outputGroups(model));
}

/**
 * X as XGBoost reads it: float32. With a numeric `missing`, values equal to it become NaN
 * (missing), and NaN becomes +inf: XGBoost then keeps NaN as a present value, which fails
 * every `x < t` as +inf does. Category-code columns are left alone (their indicators' 0/1
 * are checked against `missing` when the nodes are built).
 */
function floatFeatures(graph: GraphBuilder, input: TreeInput): string {
  const x = graph.op("Cast", [input.value], { to: { int: 1 } }, { output: "x_float" });
  const missingValues = [
    ...(input.missing !== undefined && !Number.isNaN(input.missing) ? [input.missing] : []),
    ...(input.zerosAbsent ? [0] : []),
  ];
  if (missingValues.length === 0) return x;
  const nan = graph.constant("nan", "FLOAT", [], [Number.NaN]);
  let values = x;
  if (input.missing !== undefined && !Number.isNaN(input.missing)) {
    const inf = graph.constant("pos_inf", "FLOAT", [], [Number.POSITIVE_INFINITY]);
    values = graph.op("Where", [graph.op("IsNaN", [x]), inf, x], {}, { output: "x_no_nan" });
  }
  let isMissing = missingValues
    .map((m) => graph.op("Equal", [values, graph.constant("missing", "FLOAT", [], [m])]))
    .reduce((a, b) => graph.op("Or", [a, b]));
  const valueColumns = new Array<number>(input.width).fill(0);
  for (const feature of input.features) {
    if (feature.kind === "value") valueColumns[feature.column] = 1;
  }
  if (valueColumns.some((v) => v === 0)) {
    const mask = graph.constant("value_columns", "BOOL", [input.width], valueColumns);
    isMissing = graph.op("And", [isMissing, mask]);
  }
  return graph.op("Where", [isMissing, nan, values], {}, { output: "x_missing" });
}
