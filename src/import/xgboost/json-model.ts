import { ImportError } from "../types.js";
import type { XgbModel, XgbTree } from "./model.js";
import type { JsonObject, JsonValue } from "./ubjson.js";

/**
 * Reads the document XGBoost's Learner::SaveModel writes (JSON or UBJSON; src/learner.cc
 * LearnerIO::SaveModel, src/gbm/gbtree_model.cc GBTreeModel::SaveModel, src/tree/tree_model.cc
 * RegTree::SaveModel), in the 1.x, 2.x and 3.x layouts, and the memory snapshot a pickled
 * Booster holds ({"Model": …, "Config": …}, LearnerIO::Save).
 */
export function modelFromJson(document: JsonValue, source: string): XgbModel {
  const root = asObject(document, source, "the document");
  // A pickled Booster's snapshot wraps the model with its training configuration.
  const model = isObject(root.Model) && !isObject(root.learner) ? root.Model : root;
  const at = new Reader(source);
  const top = at.object(model, "");
  const learner = at.object(top.learner, "learner");
  const param = at.object(learner.learner_model_param, "learner.learner_model_param");

  const numClass = at.intString(param.num_class, "learner.learner_model_param.num_class");
  const numFeature = at.intString(param.num_feature, "learner.learner_model_param.num_feature");
  const numTarget =
    param.num_target === undefined
      ? 1
      : at.intString(param.num_target, "learner.learner_model_param.num_target");
  if (numTarget > 1) {
    throw new ImportError(
      `${source}: a multi-target model (num_target ${numTarget}) is not supported; ` +
        "mldeploy reads single-output regressors and classifiers",
    );
  }
  const baseScore = parseBaseScore(
    at.string(param.base_score, "learner.learner_model_param.base_score"),
    source,
  );

  if (baseScore.length !== 1 && baseScore.length !== Math.max(1, numClass)) {
    throw new ImportError(
      `${source}: base_score has ${baseScore.length} values for ${Math.max(1, numClass)} outputs`,
    );
  }

  const objectiveName = at.string(
    at.object(learner.objective, "learner.objective").name,
    "learner.objective.name",
  );
  const gradientBooster = at.object(learner.gradient_booster, "learner.gradient_booster");
  const boosterName = at.string(gradientBooster.name, "learner.gradient_booster.name");

  let gbtree: JsonObject;
  let gbtreePath: string;
  let weightDrop: number[] | undefined;
  if (boosterName === "gbtree") {
    gbtree = at.object(gradientBooster.model, "learner.gradient_booster.model");
    gbtreePath = "learner.gradient_booster.model";
  } else if (boosterName === "dart") {
    const inner = at.object(gradientBooster.gbtree, "learner.gradient_booster.gbtree");
    gbtree = at.object(inner.model, "learner.gradient_booster.gbtree.model");
    gbtreePath = "learner.gradient_booster.gbtree.model";
    weightDrop = at.numbers(gradientBooster.weight_drop, "learner.gradient_booster.weight_drop");
  } else {
    throw unsupportedBooster(boosterName, source);
  }

  const modelParam = at.object(gbtree.gbtree_model_param, `${gbtreePath}.gbtree_model_param`);
  const numTrees = at.intString(modelParam.num_trees, `${gbtreePath}.gbtree_model_param.num_trees`);
  const numParallelTree =
    modelParam.num_parallel_tree === undefined
      ? 1
      : at.intString(
          modelParam.num_parallel_tree,
          `${gbtreePath}.gbtree_model_param.num_parallel_tree`,
        );
  const treesJson = at.array(gbtree.trees, `${gbtreePath}.trees`);
  const treeInfo = at.numbers(gbtree.tree_info, `${gbtreePath}.tree_info`);
  if (treesJson.length !== numTrees || treeInfo.length !== numTrees) {
    throw new ImportError(
      `${source}: ${gbtreePath} says num_trees ${numTrees} but holds ${treesJson.length} trees ` +
        `and ${treeInfo.length} tree_info entries`,
    );
  }
  if (weightDrop && weightDrop.length !== numTrees) {
    throw new ImportError(
      `${source}: learner.gradient_booster.weight_drop has ${weightDrop.length} weights for ${numTrees} trees`,
    );
  }
  // GBTreeModel::LoadModel places each tree by its "id".
  const trees: XgbTree[] = new Array<XgbTree>(numTrees);
  treesJson.forEach((treeJson, t) => {
    const path = `${gbtreePath}.trees[${t}]`;
    const tree = at.object(treeJson, path);
    const id = tree.id === undefined ? t : at.integer(tree.id, `${path}.id`);
    if (id < 0 || id >= numTrees || trees[id] !== undefined) {
      throw new ImportError(`${source}: ${path}.id ${id} is out of range or repeated`);
    }
    trees[id] = readTree(tree, path, at, source);
  });

  const iterationIndptr =
    gbtree.iteration_indptr === undefined
      ? undefined
      : at.numbers(gbtree.iteration_indptr, `${gbtreePath}.iteration_indptr`);

  const attributes: Record<string, string> = {};
  if (learner.attributes !== undefined) {
    for (const [key, value] of Object.entries(
      at.object(learner.attributes, "learner.attributes"),
    )) {
      if (typeof value === "string") attributes[key] = value;
    }
  }
  const strings = (value: JsonValue | undefined, path: string): string[] | undefined => {
    if (value === undefined) return undefined;
    const items = at.array(value, path).map((item, i) => at.string(item, `${path}[${i}]`));
    return items.length > 0 ? items : undefined;
  };
  const version =
    top.version === undefined ? undefined : at.numbers(top.version, "version").slice(0, 3);

  return {
    objective: objectiveName,
    booster: boosterName,
    numFeature,
    numClass,
    baseScore,
    featureNames: strings(learner.feature_names, "learner.feature_names"),
    featureTypes: strings(learner.feature_types, "learner.feature_types"),
    trees,
    treeInfo,
    weightDrop,
    numParallelTree,
    iterationIndptr,
    attributes,
    version,
  };
}

function readTree(tree: JsonObject, path: string, at: Reader, source: string): XgbTree {
  const param = at.object(tree.tree_param, `${path}.tree_param`);
  const numNodes = at.intString(param.num_nodes, `${path}.tree_param.num_nodes`);
  const sizeLeafVector =
    param.size_leaf_vector === undefined
      ? 0
      : at.intString(param.size_leaf_vector, `${path}.tree_param.size_leaf_vector`);
  if (sizeLeafVector > 1) {
    throw new ImportError(
      `${source}: ${path} is a multi-target tree (size_leaf_vector ${sizeLeafVector}); ` +
        "mldeploy reads single-output trees only",
    );
  }
  // Categorical splits (split_type 1, XGBoost's enable_categorical) test set membership,
  // which this importer does not compile: refuse rather than predict wrongly.
  const splitType =
    tree.split_type === undefined ? [] : at.numbers(tree.split_type, `${path}.split_type`);
  const categoricalNode = splitType.findIndex((type) => type !== 0);
  if (categoricalNode >= 0) {
    throw new ImportError(
      `${source}: ${path} node ${categoricalNode} has a categorical split ` +
        "(enable_categorical); mldeploy reads numerical splits only — refit with one-hot or " +
        "ordinal-encoded features",
    );
  }
  const column = (name: string): number[] => {
    const values = at.numbers(tree[name], `${path}.${name}`);
    if (values.length !== numNodes) {
      throw new ImportError(
        `${source}: ${path}.${name} has ${values.length} entries for ${numNodes} nodes`,
      );
    }
    return values;
  };
  const result: XgbTree = {
    left: Int32Array.from(column("left_children")),
    right: Int32Array.from(column("right_children")),
    splitIndex: Uint32Array.from(column("split_indices")),
    splitCondition: Float32Array.from(column("split_conditions")),
    defaultLeft: Uint8Array.from(column("default_left"), (v) => (v ? 1 : 0)),
  };
  checkTree(result, path, source);
  return result;
}

/**
 * A tree whose child indices leave the node array or loop would send the graph builder (and
 * onnxruntime) astray: check each split node's children are in range and visited once.
 */
export function checkTree(tree: XgbTree, path: string, source: string): void {
  const n = tree.left.length;
  if (n === 0) throw new ImportError(`${source}: ${path} has no nodes`);
  const seen = new Uint8Array(n);
  const stack = [0];
  seen[0] = 1;
  while (stack.length > 0) {
    const node = stack.pop() as number;
    if (tree.left[node] === -1) continue;
    for (const child of [tree.left[node], tree.right[node]]) {
      if (!(child > 0 && child < n) || seen[child]) {
        throw new ImportError(
          `${source}: ${path} node ${node} has an invalid child ${child} (${n} nodes)`,
        );
      }
      seen[child] = 1;
      stack.push(child);
    }
  }
}

/**
 * base_score as XGBoost writes it: a float ("5E-1", LearnerModelParamLegacy::ToJson up to
 * 3.0) or, from 3.1, a JSON array of one value per output ("[5E-1]" or "[1E0,2E0]",
 * src/common/param_array.cc WriteStream; ReadStream also accepts "(…)").
 */
const FLOAT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

export function parseBaseScore(text: string, source: string): number[] {
  const trimmed = text.trim().replace(/^\(/, "[").replace(/\)$/, "]");
  const values = trimmed.startsWith("[")
    ? trimmed
        .slice(1, -1)
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "")
    : [trimmed];
  const numbers = values.map(Number);
  if (
    trimmed.startsWith("[") !== trimmed.endsWith("]") ||
    numbers.length === 0 ||
    values.some((v) => !FLOAT.test(v))
  ) {
    throw new ImportError(
      `${source}: learner.learner_model_param.base_score "${text}" is not a number or array`,
    );
  }
  return numbers;
}

export const SUPPORTED_BOOSTERS = ["gbtree", "dart"];

export function unsupportedBooster(name: string, source: string): ImportError {
  return new ImportError(
    `${source}: booster "${name}" is not supported (supported: ${SUPPORTED_BOOSTERS.join(", ")})` +
      (name === "gblinear" ? "; a gblinear model is a linear model, refit it with gbtree" : ""),
  );
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function asObject(value: JsonValue | undefined, source: string, what: string): JsonObject {
  if (!isObject(value)) throw new ImportError(`${source}: ${what} is not a JSON object`);
  return value;
}

/** Typed reads of the document, each failure naming the field. */
class Reader {
  constructor(private readonly source: string) {}

  private fail(path: string, expected: string, value: JsonValue | undefined): never {
    const found =
      value === undefined
        ? "missing"
        : `found ${Array.isArray(value) ? "an array" : value === null ? "null" : typeof value}`;
    throw new ImportError(
      `${this.source}: field "${path || "(root)"}" should be ${expected} (${found}); ` +
        "not an XGBoost 1.x–3.x model layout mldeploy reads",
    );
  }

  object(value: JsonValue | undefined, path: string): JsonObject {
    if (!isObject(value)) return this.fail(path, "an object", value);
    return value;
  }

  array(value: JsonValue | undefined, path: string): JsonValue[] {
    if (!Array.isArray(value)) return this.fail(path, "an array", value);
    return value;
  }

  string(value: JsonValue | undefined, path: string): string {
    if (typeof value !== "string") return this.fail(path, "a string", value);
    return value;
  }

  integer(value: JsonValue | undefined, path: string): number {
    if (typeof value !== "number" || !Number.isSafeInteger(value))
      return this.fail(path, "an integer", value);
    return value;
  }

  /** XGBoost writes its parameters as strings ("num_class": "3"). */
  intString(value: JsonValue | undefined, path: string): number {
    const text = typeof value === "number" ? String(value) : this.string(value, path);
    if (!/^\s*-?\d+\s*$/.test(text)) return this.fail(path, "an integer string", value);
    const number = Number(text);
    if (!Number.isSafeInteger(number) || number < 0)
      return this.fail(path, "a non-negative integer", value);
    return number;
  }

  /** An array of numbers (booleans count as 0/1, as XGBoost's GetElem<Boolean> does). */
  numbers(value: JsonValue | undefined, path: string): number[] {
    const items = this.array(value, path);
    return items.map((item, i) => {
      if (typeof item === "number") return item;
      if (typeof item === "boolean") return item ? 1 : 0;
      return this.fail(`${path}[${i}]`, "a number", item);
    });
  }
}
