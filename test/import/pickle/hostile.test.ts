import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { RefusedGlobalError } from "../../../src/import/pickle/errors.js";
import { Lifter } from "../../../src/import/pickle/lift.js";
import { readPickle } from "../../../src/import/pickle/read.js";
import { ImportError } from "../../../src/import/types.js";
import {
  NO_PYTHON_LIBS,
  pythonFixture,
  pythonHasAll,
  readJson,
  SYSTEM_PYTHON,
} from "../fixtures.js";

/**
 * A corpus of hostile pickles whose payloads would run `touch "$MLDEPLOY_MARKER_DIR/<tag>"`:
 * REDUCE of os.system / posix.system / nt.system / subprocess.Popen / builtins.eval /
 * builtins.exec / a builtins.getattr chain, at the top level and inside a fitted
 * LinearRegression's attribute, in every protocol 0–5, in joblib files (plain, zlib, gzip, and
 * inside the nested pickle of an object array), and hand-made opcode streams (STACK_GLOBAL
 * with its strings from the memo, INST, OBJ). Python's pickle.load really runs every one of
 * them (the marker appears); mldeploy refuses every one, naming the global, and no marker
 * appears.
 */
const SCRIPT = `
import os, sys, json, pickle, subprocess
import numpy as np, joblib
from sklearn.linear_model import LinearRegression
out = sys.argv[1]
CMD = 'touch "$MLDEPLOY_MARKER_DIR/%s"'
class System:
    def __init__(self, tag): self.tag = tag
    def __reduce__(self): return (os.system, (CMD % self.tag,))
class Popen(System):
    def __reduce__(self): return (subprocess.Popen, (["sh", "-c", CMD % self.tag],))
class Eval(System):
    def __reduce__(self): return (eval, ("__import__('os').system(%r)" % (CMD % self.tag),))
class Exec(System):
    def __reduce__(self): return (exec, ("import os; os.system(%r)" % (CMD % self.tag),))
corpus = []
def write(name, data, refused, loader="pickle", live=True):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    corpus.append({"file": name, "tag": name, "global": refused, "loader": loader, "live": live})
payloads = {"posix.system": System, "subprocess.Popen": Popen, "builtins.eval": Eval, "builtins.exec": Exec}
lr = LinearRegression().fit(np.array([[1.0], [2.0], [3.0]]), np.array([2.0, 4.0, 6.0]))
for refused, cls in payloads.items():
    for protocol in range(6):
        name = "%s.top.p%d.pkl" % (refused, protocol)
        write(name, pickle.dumps(cls(name), protocol=protocol), refused)
        name = "%s.in-estimator.p%d.pkl" % (refused, protocol)
        lr.payload = cls(name)
        write(name, pickle.dumps(lr, protocol=protocol), refused)
# An allowed estimator comes first in the stream, the payload after it.
del lr.payload
name = "after-estimator.p2.pkl"
write(name, pickle.dumps([lr, System(name)], protocol=2), "posix.system")
for suffix, compress in (("joblib", 0), ("z.joblib", 3), ("gz.joblib", ("gzip", 3))):
    name = "in-estimator." + suffix
    lr.payload = System(name)
    joblib.dump({"model": lr, "ids": np.arange(10)}, os.path.join(out, name), compress=compress)
    corpus.append({"file": name, "tag": name, "global": "posix.system", "loader": "joblib", "live": True})
    # joblib writes object arrays as a nested pickle right after their wrapper.
    name = "in-object-array." + suffix
    joblib.dump([np.arange(3.0), np.array([System(name)], dtype=object)], os.path.join(out, name), compress=compress)
    corpus.append({"file": name, "tag": name, "global": "posix.system", "loader": "joblib", "live": True})
def v(text): return b"V" + text.encode("raw_unicode_escape") + b"\\n"
cmd = lambda tag: CMD % tag
# Hand-made streams.
write("os.system.p0.pkl", b"cos\\nsystem\\n(" + v(cmd("os.system.p0.pkl")) + b"tR.", "os.system")
write("nt.system.p0.pkl", b"cnt\\nsystem\\n(" + v(cmd("nt.system.p0.pkl")) + b"tR.", "nt.system", live=False)  # Windows only
write("getattr-chain.p0.pkl",
      b"cbuiltins\\ngetattr\\n(cbuiltins\\n__import__\\n(Vos\\ntRVsystem\\ntR(" + v(cmd("getattr-chain.p0.pkl")) + b"tR.",
      "builtins.getattr")
write("inst.p0.pkl", b"(" + v(cmd("inst.p0.pkl")) + b"ios\\nsystem\\n.", "os.system")
write("obj.p1.pkl", b"(cos\\nsystem\\n" + v(cmd("obj.p1.pkl")) + b"o.", "os.system")
def short(text):
    data = text.encode()
    return b"\\x8c" + bytes([len(data)]) + data
# STACK_GLOBAL whose two strings come from the memo, stored long before and popped meanwhile.
write("stack-global-memo.p4.pkl",
      b"\\x80\\x04" + short("os") + b"\\x94" + short("system") + b"\\x94" + b"00" + b"K\\x07" + b"0"
      + b"h\\x00h\\x01\\x93" + short(cmd("stack-global-memo.p4.pkl")) + b"\\x85R.", "os.system")
write("stack-global-builtins.p4.pkl",
      b"\\x80\\x04" + short("builtins") + b"\\x94" + short("exec") + b"\\x94\\x93"
      + short("import os; os.system(%r)" % cmd("stack-global-builtins.p4.pkl")) + b"\\x85R.", "builtins.exec")
with open(os.path.join(out, "corpus.json"), "w") as f:
    json.dump(corpus, f)
`;

const LIVE_CHECK = `
import sys, json, os, pickle, joblib
corpus = json.load(open(sys.argv[2]))
for entry in corpus:
    if not entry["live"]:
        continue
    path = os.path.join(sys.argv[1], entry["file"])
    try:
        if entry["loader"] == "joblib":
            joblib.load(path)
        else:
            with open(path, "rb") as f:
                pickle.load(f)
    except Exception:
        pass  # the payload ran before whatever came after it failed
`;

interface Entry {
  file: string;
  tag: string;
  global: string;
  loader: "pickle" | "joblib";
  /** False for payloads Linux cannot run (nt.system). */
  live: boolean;
}

/** Nothing the corpus holds is an estimator class mldeploy would refuse on its own. */
const ALLOWED = new Set(["sklearn.linear_model._base.LinearRegression"]);

const HAS_PYTHON = pythonHasAll("sklearn", "joblib");

describe.skipIf(!HAS_PYTHON)(HAS_PYTHON ? "hostile pickles" : NO_PYTHON_LIBS, () => {
  let dir = "";
  let corpus: Entry[] = [];
  const markers = mkdtempSync(path.join(os.tmpdir(), "mldeploy-hostile-markers-"));
  const previous = process.env.MLDEPLOY_MARKER_DIR;
  beforeAll(async () => {
    dir = await pythonFixture(SCRIPT);
    corpus = await readJson<Entry[]>(path.join(dir, "corpus.json"));
    // Were anything in the corpus ever run by mldeploy, its marker would land here.
    process.env.MLDEPLOY_MARKER_DIR = markers;
  });
  afterAll(() => {
    if (previous === undefined) delete process.env.MLDEPLOY_MARKER_DIR;
    else process.env.MLDEPLOY_MARKER_DIR = previous;
    rmSync(markers, { recursive: true, force: true });
  });

  it("holds live payloads: Python's pickle.load / joblib.load runs every one of them (but nt.system)", async () => {
    const live = mkdtempSync(path.join(os.tmpdir(), "mldeploy-hostile-live-"));
    try {
      await promisify(execFile)(
        SYSTEM_PYTHON,
        ["-c", LIVE_CHECK, dir, path.join(dir, "corpus.json")],
        {
          env: { ...process.env, MLDEPLOY_MARKER_DIR: live },
          timeout: 120_000,
        },
      );
      // subprocess.Popen returns before its shell has run: give the shells a moment.
      const want = corpus
        .filter((entry) => entry.live)
        .map((entry) => entry.tag)
        .sort();
      for (let i = 0; i < 50 && readdirSync(live).length < want.length; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(readdirSync(live).sort()).toEqual(want);
    } finally {
      rmSync(live, { recursive: true, force: true });
    }
  });

  it("refuses every file, naming the global, and runs nothing", () => {
    expect(corpus.length).toBeGreaterThan(60);
    for (const entry of corpus) {
      const bytes = readFileSync(path.join(dir, entry.file));
      let error: unknown;
      try {
        readPickle(bytes, { allowedClasses: ALLOWED, source: entry.file });
      } catch (caught) {
        error = caught;
      }
      expect(error, entry.file).toBeInstanceOf(RefusedGlobalError);
      const refused = error as RefusedGlobalError;
      expect(`${refused.module}.${refused.name}`, entry.file).toBe(entry.global);
      expect(refused.message).toBe(
        `${entry.file}: refused to load: it asks for ${entry.global}, which is not a model class mldeploy reads ` +
          "(pickles can run code; only known estimator and numpy classes are allowed)",
      );
    }
    expect(readdirSync(markers)).toEqual([]);
  });

  it("refuses before building anything: pass 2 never starts", () => {
    // The LinearRegression is complete in the stream before the payload's global appears;
    // pass 1 only records opcodes, so no value of either is ever built.
    const lift = vi.spyOn(Lifter.prototype, "lift");
    try {
      const bytes = readFileSync(path.join(dir, "after-estimator.p2.pkl"));
      expect(() =>
        readPickle(bytes, { allowedClasses: ALLOWED, source: "after-estimator.p2.pkl" }),
      ).toThrow(RefusedGlobalError);
      expect(lift).not.toHaveBeenCalled();
      // Control: the same spy sees pass 2 on a harmless file.
      readPickle(Uint8Array.from([0x80, 0x02, 0x5d, 0x2e]), { allowedClasses: ALLOWED });
      expect(lift).toHaveBeenCalled();
    } finally {
      lift.mockRestore();
    }
  });
});

/** Hand-assembled streams (no Python needed). */
const b = (...parts: ReadonlyArray<string | readonly number[]>) =>
  Uint8Array.from(
    parts.flatMap((p) => (typeof p === "string" ? [...Buffer.from(p, "latin1")] : p)),
  );

describe("refusal comes first, by design", () => {
  it("refuses a global after a broken array rather than reporting the array", () => {
    // A numpy array whose state claims 5 float64s but holds 3 bytes: building it would fail
    // ("needs 40 bytes"). The evil global after it still wins, because nothing is built
    // before the whole stream has passed pass 1.
    const array = [
      [0x80, 0x02],
      "](",
      "cnumpy.core.multiarray\n_reconstruct\n",
      "cnumpy\nndarray\n",
      "K",
      [0, 0x85],
      "C",
      [1],
      "b",
      [0x87],
      "R(K",
      [1],
      "K",
      [5, 0x85],
      "cnumpy\ndtype\n",
      "U",
      [2],
      "f8",
      [0x89, 0x88, 0x87],
      "R(K",
      [3],
      "U",
      [1],
      "<NNNJ",
      [0xff, 0xff, 0xff, 0xff],
      "J",
      [0xff, 0xff, 0xff, 0xff],
      "K",
      [0],
      "tb",
      [0x89],
      "C",
      [3],
      "abctb",
    ] as const;
    const payload = ["cposix\nsystem\n", "U", [4], "true", [0x85], "R"] as const;
    const broken = b(...array, ...payload, "e.");
    expect(() => readPickle(broken, { allowedClasses: new Set(), source: "x.pkl" })).toThrow(
      /^x\.pkl: refused to load: it asks for posix\.system/,
    );
    // Without the payload, the same array is reported as broken: the tripwire is real.
    expect(() =>
      readPickle(b(...array, "e."), { allowedClasses: new Set(), source: "x.pkl" }),
    ).toThrow(/needs 40 bytes, the file gives 3/);
  });

  it("refuses STACK_GLOBAL operands that are not strings, and old joblib wrappers", () => {
    const stackGlobal = b([0x80, 0x04], "K", [1], "K", [2], [0x93], ".");
    expect(() => readPickle(stackGlobal, { allowedClasses: new Set(), source: "s.pkl" })).toThrow(
      /^s\.pkl: refused to load: a STACK_GLOBAL at byte 6 names its global with an int or float and an int or float/,
    );
    const old = b("cjoblib.numpy_pickle\nNDArrayWrapper\n.");
    expect(() => readPickle(old, { allowedClasses: new Set(), source: "old.pkl" })).toThrow(
      /^old\.pkl: refused to load: it asks for joblib\.numpy_pickle\.NDArrayWrapper, the array wrapper of joblib < 0\.10/,
    );
    for (const [stream, what] of [
      [b("Pid\n."), /persistent ids \(PERSID\)/],
      [b([0x80, 0x02, 0x82, 0x01], "."), /extension registry \(EXT1\)/],
      [b([0x80, 0x05, 0x97], "."), /out-of-band buffers \(NEXT_BUFFER/],
    ] as const) {
      expect(() => readPickle(stream, { allowedClasses: new Set() })).toThrow(ImportError);
      expect(() => readPickle(stream, { allowedClasses: new Set() })).toThrow(what);
    }
  });
});
