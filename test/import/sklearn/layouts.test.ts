import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { isNdArray, sequenceItems } from "../../../src/import/pickle/access.js";
import type { PyObject, PyValue } from "../../../src/import/pickle/values.js";
import { convertSklearn, readSklearnPickle } from "../../../src/import/sklearn/convert.js";
import { NO_PYTHON_LIBS, pythonFixture, pythonHasAll, sampleRidesJson } from "../fixtures.js";

/**
 * Attribute layouts of scikit-learn versions Debian does not ship, made from the 1.2.1 pickles
 * by changing what those versions change, each after the upstream source named:
 * - 1.3+ OneHotEncoder keeps `_drop_idx_after_grouping` beside `drop_idx_`
 *   (sklearn/preprocessing/_encoders.py, `_set_drop_idx`); without infrequent categories they
 *   are equal, and transform reads the former;
 * - 1.1+ infrequent categories (`_infrequent_enabled`, `_infrequent_indices`): refused;
 * - 1.5+ LogisticRegression's multi_class default "deprecated" (predict_proba treats it as
 *   "auto": sklearn/linear_model/_logistic.py);
 * - 1.5–1.6 ColumnTransformer keeps the remainder's columns in a `_RemainderColsList`
 *   (a collections.UserList: its items in state["data"]).
 * The converted graph must be byte for byte the one of the 1.2.1 layout, or the refusal clear.
 */
const HAVE_PYTHON = pythonHasAll("sklearn", "joblib", "cloudpickle", "numpy", "xgboost");
const SCRIPT = readFileSync(new URL("./fit-linear.py", import.meta.url), "utf8");

describe.skipIf(!HAVE_PYTHON)("scikit-learn 1.0–1.6 attribute layouts", () => {
  let dir: string;
  const load = (name: string) => {
    const file = path.join(dir, `${name}.pickle4`);
    return readSklearnPickle(readFileSync(file), { source: `${name}.pickle4` });
  };
  const graph = (value: PyValue) => Buffer.from(convertSklearn(value).onnx);

  beforeAll(async () => {
    dir = await pythonFixture(SCRIPT, await sampleRidesJson(20_000));
  }, 600_000);

  /** The steps of a pickled Pipeline, by position. */
  function step(model: PyValue, index: number): PyObject {
    const steps = sequenceItems((model as PyObject).state.get("steps")) ?? [];
    return sequenceItems(steps[index])?.[1] as PyObject;
  }
  function transformer(ct: PyObject, index: number): PyValue[] {
    return sequenceItems(sequenceItems(ct.state.get("transformers_"))?.[index]) ?? [];
  }

  it("reads OneHotEncoder's _drop_idx_after_grouping (1.3+)", () => {
    const expected = graph(load("ct_drop_first_ridge"));
    const model = load("ct_drop_first_ridge");
    const encoder = transformer(step(model, 0), 0)[1] as PyObject;
    const dropIdx = encoder.state.get("drop_idx_") as PyValue;
    expect(isNdArray(dropIdx)).toBe(true);
    encoder.state.set("_drop_idx_after_grouping", dropIdx);
    // What transform reads in 1.3+ wins over drop_idx_ (there in categories_ terms).
    encoder.state.set("drop_idx_", null);
    expect(graph(model)).toEqual(expected);
  });

  it("refuses infrequent categories in one line", () => {
    const model = load("ct_ridge");
    const encoder = transformer(step(model, 0), 0)[1] as PyObject;
    encoder.state.set("_infrequent_enabled", true);
    encoder.state.set("_infrequent_indices", [null, { kind: "tuple", items: [] }]);
    expect(() => convertSklearn(model)).toThrow(
      /^OneHotEncoder groups infrequent categories \(min_frequency \/ max_categories\)/,
    );
  });

  it('treats multi_class="deprecated" (1.5+) as "auto"', () => {
    for (const name of ["dv_logistic_3", "ct_logistic_binary"]) {
      const expected = graph(load(name));
      const model = load(name);
      const logistic = step(model, 1);
      expect(logistic.state.get("multi_class")).toBe("auto");
      logistic.state.set("multi_class", "deprecated");
      expect(graph(model)).toEqual(expected);
    }
  });

  it("reads the remainder columns of a _RemainderColsList (1.5–1.6)", () => {
    const expected = graph(load("ct_numeric_scaled_ridge"));
    const model = load("ct_numeric_scaled_ridge");
    const remainder = transformer(step(model, 0), 1);
    expect(remainder[0]).toBe("remainder");
    const list: PyObject = {
      kind: "object",
      className: "sklearn.compose._column_transformer._RemainderColsList",
      args: [],
      state: new Map<string, PyValue>([
        ["data", remainder[2]],
        ["future_dtype", "str"],
        ["warning_was_emitted", false],
        ["warning_enabled", true],
      ]),
    };
    remainder[2] = list;
    expect(graph(model)).toEqual(expected);
  });

  it("names the attribute a layout lacks", () => {
    const model = load("dv_lasso");
    step(model, 0).state.delete("vocabulary_");
    expect(() => convertSklearn(model)).toThrow(
      /^DictVectorizer: cannot read attribute "vocabulary_" \(missing\)/,
    );
  });
});

if (!HAVE_PYTHON) console.warn(NO_PYTHON_LIBS);
