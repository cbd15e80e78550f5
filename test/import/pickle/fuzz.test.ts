import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { INTERNAL, readPickle } from "../../../src/import/pickle/read.js";
import { ImportError } from "../../../src/import/types.js";
import { NO_PYTHON_LIBS, pythonFixture, pythonHasAll } from "../fixtures.js";

/**
 * Every truncation of a few real pickles and joblib files, and bit-flipped and random inputs:
 * the reader returns a value or throws an ImportError it meant to throw — never another
 * exception, never its catch-all for the unexpected — and quickly.
 */
const SCRIPT = `
import sys, os, pickle, collections
import numpy as np, joblib
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeRegressor
out = sys.argv[1]
rng = np.random.RandomState(0)
dicts = [{"PU_DO": "%d_%d" % (a, b), "trip_distance": float(d)} for a, b, d in zip(rng.randint(1, 4, 40), rng.randint(1, 3, 40), rng.rand(40) * 10)]
y = rng.rand(40) * 30
dv = DictVectorizer(); X = dv.fit_transform(dicts)
lr = LinearRegression().fit(X, y)
tree = DecisionTreeRegressor(max_depth=2).fit(X, y)
model = (dv, lr, tree)
with open(os.path.join(out, "model.p2.pkl"), "wb") as f: pickle.dump(model, f, protocol=2)
with open(os.path.join(out, "model.p5.pkl"), "wb") as f: pickle.dump(model, f, protocol=5)
values = [1, 2**70, -1.5, "PU_DO", b"\\x00\\xff", (1, 2), {"a": [None, True]}, {3}, collections.OrderedDict(z=1),
          np.arange(6, dtype=np.int32).reshape(2, 3).T, np.array(["a", "bc"]), np.array([1, "x"], dtype=object), np.float64(2.5)]
with open(os.path.join(out, "values.p0.pkl"), "wb") as f: pickle.dump(values, f, protocol=0)
joblib.dump(model, os.path.join(out, "model.joblib"))
joblib.dump(model, os.path.join(out, "model.z.joblib"), compress=3)
joblib.dump(values, os.path.join(out, "values.gz.joblib"), compress=("gzip", 3))
`;

const FILES = [
  "model.p2.pkl",
  "model.p5.pkl",
  "values.p0.pkl",
  "model.joblib",
  "model.z.joblib",
  "values.gz.joblib",
];
const ALLOWED = new Set([
  "sklearn.feature_extraction._dict_vectorizer.DictVectorizer",
  "sklearn.linear_model._base.LinearRegression",
  "sklearn.tree._classes.DecisionTreeRegressor",
  "sklearn.tree._tree.Tree",
]);

/** Reads; true when a value came back. Anything but a deliberate ImportError fails the test. */
function survive(bytes: Uint8Array, label: string): boolean {
  // CPU time, not wall time: a runaway parse shows in it, another process's load does not.
  const started = process.cpuUsage();
  let read = false;
  try {
    readPickle(bytes, { allowedClasses: ALLOWED, source: "fuzz" });
    read = true;
  } catch (error) {
    if (!(error instanceof ImportError))
      throw new Error(`${label}: ${String(error)}`, { cause: error });
    if (error.message.includes(INTERNAL) || error.message.includes("\n"))
      throw new Error(`${label}: ${error.message}`, { cause: error });
  }
  const used = process.cpuUsage(started);
  const took = (used.user + used.system) / 1000;
  if (took > 500) throw new Error(`${label}: took ${took.toFixed(0)} ms of CPU`);
  return read;
}

/** A small deterministic PRNG (mulberry32), so a failure reproduces. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HAS_PYTHON = pythonHasAll("sklearn", "joblib");

describe.skipIf(!HAS_PYTHON)(HAS_PYTHON ? "pickle fuzzing" : NO_PYTHON_LIBS, () => {
  let dir = "";
  const files = new Map<string, Uint8Array>();
  beforeAll(async () => {
    dir = await pythonFixture(SCRIPT);
    for (const file of FILES) files.set(file, readFileSync(path.join(dir, file)));
  });

  it("reads the intact files (control)", () => {
    for (const [file, bytes] of files) expect(survive(bytes, file), file).toBe(true);
  });

  it("refuses every truncation with an ImportError", () => {
    const read: string[] = [];
    for (const [file, bytes] of files) {
      // Every prefix loses the final STOP (or the compressed stream's end).
      for (let n = 0; n < bytes.length; n++)
        if (survive(bytes.subarray(0, n), `${file}[:${n}]`)) read.push(`${file}[:${n}]`);
    }
    expect(read).toEqual([]);
  });

  it("survives bit flips, byte changes, insertions and deletions", () => {
    const next = random(17);
    const pick = (n: number) => Math.floor(next() * n);
    let read = 0;
    for (const [file, bytes] of files) {
      for (let i = 0; i < 150; i++) {
        const mutated = Array.from(bytes);
        for (let k = 1 + pick(3); k > 0; k--) {
          const at = pick(mutated.length);
          switch (pick(4)) {
            case 0:
              mutated[at] ^= 1 << pick(8);
              break;
            case 1:
              mutated[at] = pick(256);
              break;
            case 2:
              mutated.splice(at, 0, pick(256));
              break;
            default:
              mutated.splice(at, 1);
          }
        }
        if (survive(Uint8Array.from(mutated), `${file} mutation ${i}`)) read++;
      }
    }
    // Many single-byte changes land in data (a float, a string) and still read.
    expect(read).toBeGreaterThan(0);
  });

  it("survives random bytes and random opcode soup", () => {
    const next = random(4242);
    const pick = (n: number) => Math.floor(next() * n);
    const opcodes = [..."().012FIJKLMNRSTUVXabcdegh}ijl]opqrstuGBC"].map((c) => c.charCodeAt(0));
    for (let op = 0x80; op <= 0x98; op++) opcodes.push(op);
    for (let i = 0; i < 300; i++) {
      const random = Uint8Array.from({ length: pick(200) }, () => pick(256));
      survive(random, `random ${i}`);
      // Mostly valid opcodes with small arguments reach deeper into the interpreter.
      const soup = [0x80, 2 + pick(4)];
      for (let k = pick(60); k > 0; k--) {
        soup.push(opcodes[pick(opcodes.length)]);
        for (let a = pick(3); a > 0; a--) soup.push(pick(4) === 0 ? 0x0a : pick(8));
      }
      soup.push(0x2e);
      survive(Uint8Array.from(soup), `soup ${i}: ${Buffer.from(soup).toString("hex")}`);
    }
  });
});
