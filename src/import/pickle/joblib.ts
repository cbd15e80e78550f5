import { constants as bufferConstants } from "node:buffer";
import zlib from "node:zlib";
import { ImportError } from "../types.js";
import type { Cursor } from "./cursor.js";
import { JOBLIB_WRAPPER } from "./globals.js";
import { type LiftContext, Lifter } from "./lift.js";
import { isDType, makeArray, shapeOf } from "./numpy.js";
import { isNode, type Raw, type RawCall, runPickle } from "./vm.js";

/**
 * joblib's container (joblib/numpy_pickle.py, numpy_pickle_utils.py, compressor.py; 1.2 and
 * later): a pickle, optionally compressed as a whole, in which each numpy array is a
 * NumpyArrayWrapper whose BUILD is followed by the array's bytes, outside any pickle opcode.
 */

/** What decompressed joblib files may grow to (a zip-bomb guard), unless the caller says. */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 2 * 1024 ** 3;

export type Compression = "zlib" | "gzip";

const REFUSED_COMPRESSORS: Array<{ magic: number[]; name: string }> = [
  { magic: [0x42, 0x5a, 0x68], name: "bz2" },
  { magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a], name: "xz" },
  { magic: [0x5d, 0x00, 0x00], name: "lzma" },
  { magic: [0x04, 0x22, 0x4d, 0x18], name: "lz4" },
];

/**
 * The pickle stream inside a file: the file itself, or its zlib / gzip decompression (joblib's
 * compress=3 / compress=("gzip", 3)). Other compressors and other formats are named.
 */
export function openContainer(
  bytes: Uint8Array,
  source: string,
  maxBytes = DEFAULT_MAX_DECOMPRESSED_BYTES,
): { stream: Uint8Array; compression?: Compression } {
  const starts = (magic: number[]) => magic.every((b, i) => bytes[i] === b);
  if (bytes.length === 0) throw new ImportError(`${source}: the file is empty, not a pickle`);
  if (bytes[0] === 0x78 && bytes.length > 1 && ((bytes[0] << 8) | bytes[1]) % 31 === 0)
    return { stream: inflate(bytes, source, "zlib", maxBytes), compression: "zlib" };
  if (starts([0x1f, 0x8b]))
    return { stream: inflate(bytes, source, "gzip", maxBytes), compression: "gzip" };
  for (const { magic, name } of REFUSED_COMPRESSORS) {
    if (starts(magic)) {
      throw new ImportError(
        `${source}: refused to load: it is compressed with ${name} (joblib.dump(..., compress=("${name}", 3))); ` +
          `mldeploy reads joblib files uncompressed or compressed with zlib or gzip — ` +
          `load it in Python and dump it again with compress=3 or compress=("gzip", 3)`,
      );
    }
  }
  if (starts([0x5a, 0x46])) {
    throw new ImportError(
      `${source}: refused to load: a compressed joblib file of joblib < 0.9.3 ("ZF" format); ` +
        `load it in Python and dump it again with a current joblib`,
    );
  }
  if (starts([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]))
    throw new ImportError(`${source}: a numpy .npy file, not a pickle or joblib file`);
  if (starts([0x50, 0x4b, 0x03, 0x04]))
    throw new ImportError(
      `${source}: a zip archive (a PyTorch, Keras or .npz file?), not a pickle or joblib file`,
    );
  if (bytes[0] === 0x7b)
    throw new ImportError(`${source}: a JSON document (an XGBoost model?), not a pickle`);
  return { stream: bytes };
}

function inflate(
  bytes: Uint8Array,
  source: string,
  kind: Compression,
  maxBytes: number,
): Uint8Array {
  const maxOutputLength = Math.min(maxBytes, bufferConstants.MAX_LENGTH);
  try {
    return kind === "zlib"
      ? zlib.inflateSync(bytes, { maxOutputLength })
      : zlib.gunzipSync(bytes, { maxOutputLength });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ERR_BUFFER_TOO_LARGE") {
      throw new ImportError(
        `${source}: refused to load: it decompresses (${kind}) to more than ${maxOutputLength} bytes ` +
          `(a decompression bomb, or a model larger than mldeploy reads)`,
      );
    }
    throw new ImportError(
      `${source}: the ${kind}-compressed joblib file is corrupt or truncated (${(error as Error).message})`,
    );
  }
}

/**
 * pass 1's BUILD hook: after a NumpyArrayWrapper's BUILD, read the array that follows
 * (NumpyArrayWrapper.read_array) and put it where the wrapper was, as joblib's
 * NumpyUnpickler.load_build does. The wrapper's state (shape, order, dtype) is read as plain
 * data: a dtype record is the only construction accepted in it.
 */
export function joblibArrayHook(
  context: LiftContext,
): (object: RawCall, cursor: Cursor) => Raw | undefined {
  return (object, cursor) => {
    const callee = object.callee;
    if (!isNode(callee, "global") || !JOBLIB_WRAPPER.has(`${callee.module}.${callee.name}`))
      return undefined;
    const at = cursor.pos;
    const fail = (what: string) => cursor.fail(`joblib array: ${what}`, at);
    const state = object.builds[object.builds.length - 1];
    if (!isNode(state, "dict")) throw fail("the NumpyArrayWrapper's state is not a dict");
    const field = (name: string): Raw | undefined => state.pairs.find(([key]) => key === name)?.[1];
    const lifter = new Lifter(context, true);
    const dtype = lifter.lift(field("dtype") ?? null);
    if (!isDType(dtype)) throw fail("the wrapper has no numpy dtype");
    const shape = shapeOf(lifter.lift(field("shape") ?? null), fail);
    const order = field("order");
    if (order !== "C" && order !== "F")
      throw fail(`the wrapper's order is ${String(order)}, not "C" or "F"`);
    if (
      dtype.str === "|O" ||
      (dtype.fields && [...dtype.fields.values()].some((f) => f.dtype.str === "|O"))
    ) {
      // Arrays of Python objects are a complete pickle of their own (protocol 2), inline.
      return runPickle(cursor, { checkGlobal: context.checkGlobal }).root;
    }
    const alignment = field("numpy_array_alignment_bytes");
    if (alignment !== undefined && alignment !== null) {
      // joblib ≥ 1.2: one byte saying how much padding follows, so the data is aligned.
      cursor.take(cursor.u8("joblib array padding length"), "joblib array padding");
    }
    const count = shape.reduce((a, b) => a * b, 1);
    const size = count * dtype.itemsize;
    if (!Number.isSafeInteger(size))
      throw fail(`an array of shape (${shape.join(", ")}) is too large`);
    const data = cursor.take(
      size,
      `joblib array data of shape (${shape.join(", ")}) and dtype ${dtype.str}`,
    );
    return { t: "ready", value: makeArray(dtype, shape, order === "F", data, fail) };
  };
}
