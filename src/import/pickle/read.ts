import { ImportError } from "../types.js";
import { Cursor } from "./cursor.js";
import { RefusedGlobalError } from "./errors.js";
import { FIXED_GLOBALS, JOBLIB_WRAPPER, OLD_JOBLIB_WRAPPERS } from "./globals.js";
import { type Compression, joblibArrayHook, openContainer } from "./joblib.js";
import { type LiftContext, Lifter } from "./lift.js";
import type { PyValue } from "./values.js";
import { runPickle } from "./vm.js";

/**
 * mldeploy's safe pickle reader: plain pickles (protocols 0–5, pickle.dump and cloudpickle) and
 * joblib files (uncompressed, zlib, gzip), without Python and without calling anything a file
 * names.
 *
 * Two passes. Pass 1 (vm.ts) runs the opcodes over inert records and checks every global at
 * the opcode naming it (GLOBAL, INST, STACK_GLOBAL with its two strings, wherever they came
 * from — the memo included): a global outside `allowedClasses` ∪ the reader's own list
 * (globals.ts) is refused right there, before pass 2 (lift.ts) builds any value. Pass 2 gives
 * the allowed globals their meaning and checks each one again.
 *
 * Limits (each a one-line ImportError naming the byte offset): every length is checked
 * against the bytes left before anything is allocated; ints of at most 4300 digits (as
 * Python 3.11) or 1 MiB; values nest at most 1000 levels deep; arrays at most 2^40 elements
 * and exactly as many bytes as their shape says; decompressed joblib files at most 2 GiB
 * (`maxDecompressedBytes`). Memo and stack grow at most by one entry per opcode.
 */
export interface ReadPickleOptions {
  /** Qualified names ("sklearn.linear_model._base.LinearRegression") of the classes to accept. */
  allowedClasses: ReadonlySet<string>;
  /** The file's name for messages; "pickle" when not given. */
  source?: string;
  maxDecompressedBytes?: number;
}

export interface PickleContents {
  value: PyValue;
  /** "joblib" when the file holds joblib's array wrappers or is compressed. */
  container: "pickle" | "joblib";
  compression?: Compression;
  /** The pickle protocol PROTO declared (0 for protocols 0–1, which have none). */
  protocol: number;
}

export function readPickle(bytes: Uint8Array, options: ReadPickleOptions): PyValue {
  return inspectPickle(bytes, options).value;
}

/** readPickle, also saying which container and protocol the file used. */
export function inspectPickle(bytes: Uint8Array, options: ReadPickleOptions): PickleContents {
  const source = options.source ?? "pickle";
  try {
    const { stream, compression } = openContainer(bytes, source, options.maxDecompressedBytes);
    let joblibArrays = false;
    const context: LiftContext = {
      source,
      checkGlobal(module, name) {
        const qualified = `${module}.${name}`;
        if (OLD_JOBLIB_WRAPPERS.has(qualified)) {
          throw new RefusedGlobalError(
            source,
            module,
            name,
            "the array wrapper of joblib < 0.10, which keeps arrays in separate .npy files or zlib " +
              "blobs; load it in Python and dump it again with a current joblib",
          );
        }
        if (!FIXED_GLOBALS.has(qualified) && !options.allowedClasses.has(qualified))
          throw new RefusedGlobalError(source, module, name);
        if (JOBLIB_WRAPPER.has(qualified)) joblibArrays = true;
      },
    };
    const cursor = new Cursor(
      stream,
      source,
      compression ? ` (of the ${compression}-decompressed stream)` : "",
    );
    const { root, protocol } = runPickle(cursor, {
      checkGlobal: context.checkGlobal,
      afterBuild: joblibArrayHook(context),
    });
    const value = new Lifter(context).lift(root);
    return {
      value,
      container: joblibArrays || compression ? "joblib" : "pickle",
      ...(compression ? { compression } : {}),
      protocol,
    };
  } catch (error) {
    if (error instanceof ImportError) throw error;
    // Whatever a hostile file provokes is still the file's fault: one line, never a crash.
    // (The fuzz tests assert this branch is never taken.)
    throw new ImportError(
      `${source}: cannot read the pickle (${INTERNAL}: ${(error as Error)?.message ?? String(error)})`,
      {
        cause: error,
      },
    );
  }
}

/** Marks errors that were not anticipated, so tests can tell them from deliberate ones. */
export const INTERNAL = "unexpected reader error";
