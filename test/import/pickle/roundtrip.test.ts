import { readFileSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { isNdArray } from "../../../src/import/pickle/access.js";
import { inspectPickle, readPickle } from "../../../src/import/pickle/read.js";
import type { PyDict, PyValue } from "../../../src/import/pickle/values.js";
import { NO_PYTHON_LIBS, pythonFixture, pythonHasAll, readJson } from "../fixtures.js";
import { ENCODE_PY, encode, type Tagged } from "./encode.js";

/**
 * Python pickles values of every kind — in protocols 0–5 and as joblib files (uncompressed,
 * zlib, gzip) — and writes what it pickled as tagged JSON; mldeploy must read the same values.
 */
const SCRIPT = `
import sys, os, pickle, collections, json
import numpy as np, joblib
${ENCODE_PY}
out = sys.argv[1]
rng = np.random.RandomState(3)
# scikit-learn >= 1.3's tree node layout (sklearn/tree/_tree.pyx NODE_DTYPE, Node in _tree.pxd):
# the 1.2 fields plus missing_go_to_left (uint8) at offset 56, records padded to 64 bytes.
node13 = np.dtype({
    "names": ["left_child", "right_child", "feature", "threshold", "impurity",
              "n_node_samples", "weighted_n_node_samples", "missing_go_to_left"],
    "formats": [np.intp, np.intp, np.intp, np.float64, np.float64, np.intp, np.float64, np.uint8],
    "offsets": [0, 8, 16, 24, 32, 40, 48, 56], "itemsize": 64})
nodes = np.zeros(3, dtype=node13)
nodes["left_child"] = [1, -1, -1]; nodes["right_child"] = [2, -1, -1]; nodes["threshold"] = [2.5, -2, -2]
nodes["missing_go_to_left"] = [1, 0, 0]; nodes["n_node_samples"] = [10, 4, 6]
values = {
    "ints": [0, 1, -1, 255, 256, 65535, 65536, -2**31, 2**31 - 1, 2**31, 2**53, -2**53, 2**64 + 5, -2**100],
    "floats": [0.0, -0.0, 1.5, -2.25, 1e300, 5e-324, float("inf"), float("-inf"), float("nan")],
    "text": ["", "ride", "PU_DO 132_265", "caf\\u00e9 \\u65e5\\u672c \\U0001F695", "back\\\\slash \\\\u1234 and \\nnewline"],
    "bytes": b"\\x00\\x01 rides \\xff" * 3,
    "bytearray": bytearray(b"abc\\x00\\xfe"),
    "tuples": ((), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)),
    "nested": [[1, [2, [3, []]]], {"a": {"b": (None, True, False)}}],
    "dict": {"PULocationID": 132, 7: "seven", -1.5: "float key", (1, 2): "tuple key", None: "none key"},
    "set": {1, 2, 3},
    "frozenset": frozenset(["a", "b"]),
    "ordered": collections.OrderedDict([("z", 1), ("a", 2)]),
    "shared": None,
    "f8": rng.rand(3, 4),
    "f4": rng.rand(5).astype(np.float32),
    "i8": np.arange(-3, 9, dtype=np.int64).reshape(3, 2, 2),
    "i4": np.array([-7, 0, 2**31 - 1], dtype=np.int32),
    "u1": np.array([0, 7, 255], dtype=np.uint8),
    "bool": np.array([True, False, True]),
    "unicode": np.array(["132_265", "", "caf\\u00e9"]),
    "object": np.array(["a=x", 3, None, 2.5], dtype=object),
    "object2d": np.array([["a", 1], ["b", 2]], dtype=object, order="F"),
    "fortran": np.asfortranarray(rng.rand(3, 2)),
    "fortran_i4": np.arange(6, dtype=np.int32).reshape(2, 3).T,
    "zero_d": np.array(4.5),
    "empty": np.zeros((0, 3)),
    "big_endian": np.array([1.5, -2.0], dtype=">f8"),
    "structured": np.array([(1, 2.5), (3, 4.5)], dtype=[("a", "<i8"), ("b", "<f8")]),
    "tree_nodes_1_3": nodes,
    "scalars": [np.float64(1.25), np.float32(0.5), np.int64(-9), np.int32(7), np.uint8(200), np.bool_(True), np.str_("PU")],
}
shared = [1, 2]
values["shared"] = [shared, shared]
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(enc(values), f)
with open(os.path.join(out, "fortran.json"), "w") as f:
    json.dump({k: bool(v.flags.f_contiguous and not v.flags.c_contiguous) for k, v in values.items() if isinstance(v, np.ndarray)}, f)
for protocol in range(6):
    with open(os.path.join(out, "values.p%d.pkl" % protocol), "wb") as f:
        pickle.dump(values, f, protocol=protocol)
joblib.dump(values, os.path.join(out, "values.joblib"))
joblib.dump(values, os.path.join(out, "values.z.joblib"), compress=3)
joblib.dump(values, os.path.join(out, "values.gz.joblib"), compress=("gzip", 3))
joblib.dump(values, os.path.join(out, "values.p2.joblib"), protocol=2)
for name in ("xz", "bz2", "lzma"):
    joblib.dump([1, 2], os.path.join(out, "small.%s.joblib" % name), compress=(name, 3))
`;

const FILES = [
  ...[0, 1, 2, 3, 4, 5].map((p) => ({
    file: `values.p${p}.pkl`,
    container: "pickle",
    protocol: p < 2 ? 0 : p,
  })),
  { file: "values.joblib", container: "joblib", protocol: 4 },
  { file: "values.z.joblib", container: "joblib", compression: "zlib", protocol: 4 },
  { file: "values.gz.joblib", container: "joblib", compression: "gzip", protocol: 4 },
  { file: "values.p2.joblib", container: "joblib", protocol: 2 },
];

const HAS_PYTHON = pythonHasAll("numpy", "joblib");

describe.skipIf(!HAS_PYTHON)(HAS_PYTHON ? "pickle round trips" : NO_PYTHON_LIBS, () => {
  let dir = "";
  let expected: Tagged;
  let fortran: Record<string, boolean>;
  beforeAll(async () => {
    dir = await pythonFixture(SCRIPT);
    expected = await readJson<Tagged>(path.join(dir, "expected.json"));
    fortran = await readJson<Record<string, boolean>>(path.join(dir, "fortran.json"));
  });
  const read = (file: string) =>
    inspectPickle(readFileSync(path.join(dir, file)), { allowedClasses: new Set(), source: file });

  for (const { file, container, compression, protocol } of FILES) {
    it(`reads ${file} as Python wrote it`, () => {
      const contents = read(file);
      expect(contents.container).toBe(container);
      expect(contents.compression).toBe(compression);
      expect(contents.protocol).toBe(protocol);
      expect(encode(contents.value)).toEqual(expected);

      const entries = (contents.value as PyDict).entries;
      // Storage order is kept for raw arrays (object arrays come as C-order lists).
      for (const [name, isFortran] of Object.entries(fortran)) {
        const array = entries.get(name);
        if (!isNdArray(array)) throw new Error(`${name} is not an array`);
        expect(array.fortranOrder, name).toBe(isFortran && !Array.isArray(array.data));
      }
      // A list referenced twice is one list, as in Python.
      const shared = entries.get("shared") as PyValue[][];
      expect(shared[0]).toBe(shared[1]);
      expect(entries.get("ints")).toContainEqual(2n ** 64n + 5n);
    });
  }

  it("refuses joblib compressors other than zlib and gzip, naming them", () => {
    for (const name of ["xz", "bz2", "lzma"]) {
      expect(() => read(`small.${name}.joblib`)).toThrow(
        new RegExp(
          `^small\\.${name}\\.joblib: refused to load: it is compressed with ${name} \\(joblib\\.dump\\(\\.\\.\\., compress=\\("${name}", 3\\)\\)\\)`,
        ),
      );
    }
  });

  it("bounds decompression (a zip-bomb guard)", () => {
    const bytes = readFileSync(path.join(dir, "values.z.joblib"));
    expect(() =>
      readPickle(bytes, {
        allowedClasses: new Set(),
        source: "bomb.joblib",
        maxDecompressedBytes: 1000,
      }),
    ).toThrow(/^bomb\.joblib: refused to load: it decompresses \(zlib\) to more than 1000 bytes/);
  });
});
