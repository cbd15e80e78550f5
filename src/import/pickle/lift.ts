import type { ImportError } from "../types.js";
import { malformed } from "./errors.js";
import {
  BUILTIN_BYTEARRAY,
  BUILTIN_BYTES,
  BUILTIN_FROZENSET,
  BUILTIN_SET,
  CODECS_ENCODE,
  JOBLIB_WRAPPER,
  NEWOBJ,
  NEWOBJ_EX,
  NUMPY_ARRAY_TYPES,
  NUMPY_DTYPE,
  NUMPY_FROMBUFFER,
  NUMPY_RANDOM,
  NUMPY_RECONSTRUCT,
  NUMPY_SCALAR,
  ORDERED_DICT,
  RECONSTRUCTOR,
} from "./globals.js";
import {
  applyArrayState,
  applyDTypeState,
  arrayFromBuffer,
  dtypeFromArgs,
  emptyArray,
  scalarFromArgs,
  tupleItems,
} from "./numpy.js";
import { isNode, kindOf, type Raw, type RawCall, type RawGlobal, type RawNode } from "./vm.js";
import type { PyDict, PyObject, PyValue } from "./values.js";

/**
 * Pass 2 of the reader: turns pass 1's records into the value model (values.ts). Only here do
 * the allowed globals get their meaning — numpy arrays and dtypes, sets, OrderedDicts, inert
 * PyObjects for estimator classes — and each global is checked against the allow-list again.
 * Nothing is called: an "estimator" is its class name, its arguments and its state.
 */

/**
 * How deep values may nest. Python's own pickler gives up near 1000 Python frames (three or
 * so per level), so no file Python wrote nests deeper than a few hundred levels.
 */
export const MAX_NESTING = 1000;

export interface LiftContext {
  source: string;
  /** Throws RefusedGlobalError for a global outside the allow-list. */
  checkGlobal(module: string, name: string, offset: number): void;
}

export class Lifter {
  private readonly done = new Map<RawNode, PyValue>();
  private readonly busy = new Set<RawNode>();

  /**
   * @param dtypesOnly lift plain data and numpy dtypes only (joblib's wrapper state, read
   *   during pass 1): any other construction is an error there.
   */
  constructor(
    private readonly context: LiftContext,
    private readonly dtypesOnly = false,
  ) {}

  lift(raw: Raw, depth = 0): PyValue {
    if (raw === null || typeof raw !== "object") return raw;
    const known = this.done.get(raw);
    if (known !== undefined) return known;
    if (depth > MAX_NESTING) {
      throw malformed(
        this.context.source,
        offsetOf(raw),
        `values nest deeper than ${MAX_NESTING} levels`,
      );
    }
    if (this.busy.has(raw)) {
      throw malformed(
        this.context.source,
        offsetOf(raw),
        "a value contains itself through a tuple or constructor arguments",
      );
    }
    const next = depth + 1;
    switch (raw.t) {
      case "bytes":
        return this.remember(raw, { kind: "bytes", data: raw.data });
      case "ready":
        return this.remember(raw, raw.value);
      case "list": {
        const list: PyValue[] = [];
        this.done.set(raw, list);
        for (const item of raw.items) list.push(this.lift(item, next));
        return list;
      }
      case "tuple": {
        this.busy.add(raw);
        const items = raw.items.map((item) => this.lift(item, next));
        this.busy.delete(raw);
        return this.remember(raw, { kind: "tuple", items });
      }
      case "set": {
        this.busy.add(raw);
        const items = raw.items.map((item) => this.lift(item, next));
        this.busy.delete(raw);
        return this.remember(raw, { kind: "set", items });
      }
      case "dict": {
        const dict: PyDict = { kind: "dict", entries: new Map() };
        this.done.set(raw, dict);
        for (const [key, value] of raw.pairs)
          addEntry(dict, this.lift(key, next), this.lift(value, next));
        return dict;
      }
      case "global":
        return this.remember(raw, this.classReference(raw));
      case "call":
        return this.call(raw, next);
    }
  }

  private remember(raw: RawNode, value: PyValue): PyValue {
    this.done.set(raw, value);
    return value;
  }

  private fail(raw: RawCall, what: string): ImportError {
    return malformed(this.context.source, raw.offset, what);
  }

  private classReference(raw: RawGlobal): PyObject {
    this.context.checkGlobal(raw.module, raw.name, raw.offset);
    return {
      kind: "object",
      className: `${raw.module}.${raw.name}`,
      args: [],
      state: new Map(),
      isClass: true,
    };
  }

  private call(raw: RawCall, depth: number): PyValue {
    const callee = raw.callee;
    if (!isNode(callee, "global"))
      throw this.fail(raw, `${raw.opcode} calls ${kindOf(callee)}, not a class`);
    // Belt and braces: pass 1 refused every global outside the allow-list already.
    this.context.checkGlobal(callee.module, callee.name, callee.offset);
    const qualified = `${callee.module}.${callee.name}`;
    if (this.dtypesOnly && qualified !== NUMPY_DTYPE) {
      throw this.fail(
        raw,
        `joblib's array wrapper holds ${qualified} where a numpy dtype, shape or order belongs`,
      );
    }
    this.busy.add(raw);
    const args = raw.args.map((arg) => this.lift(arg, depth));
    const kwargs = raw.kwargs === undefined ? undefined : this.lift(raw.kwargs, depth);
    const value = this.construct(raw, qualified, args, kwargs);
    this.busy.delete(raw);
    this.done.set(raw, value);
    for (const state of raw.builds) this.build(raw, value, this.lift(state, depth));
    if (raw.appends.length) {
      if (!isPyObject(value)) throw this.fail(raw, `appends items to ${qualified}`);
      value.listItems = [
        ...(value.listItems ?? []),
        ...raw.appends.map((item) => this.lift(item, depth)),
      ];
    }
    if (raw.setitems.length) {
      const dict = isDict(value)
        ? value
        : isPyObject(value)
          ? (value.dictItems ??= { kind: "dict", entries: new Map() })
          : undefined;
      if (!dict) throw this.fail(raw, `sets items on ${qualified}`);
      for (const [key, item] of raw.setitems)
        addEntry(dict, this.lift(key, depth), this.lift(item, depth));
    }
    return value;
  }

  private construct(
    raw: RawCall,
    qualified: string,
    args: PyValue[],
    kwargs: PyValue | undefined,
  ): PyValue {
    const fail = (what: string) => this.fail(raw, what);
    if (NUMPY_RECONSTRUCT.has(qualified)) {
      const subtype = args[0];
      if (!isPyObject(subtype) || !subtype.isClass || !NUMPY_ARRAY_TYPES.has(subtype.className))
        throw fail(
          `numpy _reconstruct of ${isPyObject(subtype) ? subtype.className : "something"} other than numpy.ndarray`,
        );
      return emptyArray();
    }
    if (NUMPY_FROMBUFFER.has(qualified)) return arrayFromBuffer(args, fail);
    if (NUMPY_SCALAR.has(qualified)) return scalarFromArgs(args, fail);
    if (qualified === NUMPY_DTYPE) return dtypeFromArgs(args, fail);
    if (JOBLIB_WRAPPER.has(qualified))
      throw fail("a joblib NumpyArrayWrapper without its array data (not written by joblib.dump)");
    switch (qualified) {
      case BUILTIN_SET:
      case BUILTIN_FROZENSET:
        return { kind: "set", items: args.length ? iterableItems(args[0], fail) : [] };
      case BUILTIN_BYTEARRAY:
      case BUILTIN_BYTES:
        return bytearray(args, fail);
      case CODECS_ENCODE: {
        // Protocols 0–2 write bytes as _codecs.encode(text, "latin1").
        const [text, encoding] = args;
        if (typeof text !== "string" || (encoding !== "latin1" && encoding !== "latin-1"))
          throw fail("_codecs.encode of something other than latin-1 text");
        return { kind: "bytes", data: latin1Bytes(text, fail) };
      }
      case ORDERED_DICT: {
        const dict: PyDict = { kind: "dict", entries: new Map() };
        for (const pair of args.length ? iterableItems(args[0], fail) : []) {
          const kv = tupleItems(pair) ?? (Array.isArray(pair) ? pair : undefined);
          if (kv?.length !== 2) throw fail("OrderedDict built from something other than pairs");
          addEntry(dict, kv[0], kv[1]);
        }
        return dict;
      }
      case RECONSTRUCTOR: {
        // Protocols 0–1: copyreg._reconstructor(cls, object, None) makes a bare instance.
        const [cls, , state] = args;
        return this.instance(
          classOf(cls, fail),
          state === null || state === undefined ? [] : [state],
        );
      }
      case NEWOBJ: {
        const [cls, ...rest] = args;
        return this.instance(classOf(cls, fail), rest);
      }
      case NEWOBJ_EX: {
        const [cls, newArgs, newKwargs] = args;
        return this.instance(classOf(cls, fail), tupleItems(newArgs ?? null) ?? [], newKwargs);
      }
    }
    if (NUMPY_RANDOM.has(qualified)) {
      // Inert: the generator's name and (after BUILD) its state, never seeded or run.
      const className =
        qualified.includes("andomstate_ctor") || qualified.includes("RandomState_ctor")
          ? "numpy.random.mtrand.RandomState"
          : qualified.endsWith("__generator_ctor")
            ? "numpy.random._generator.Generator"
            : qualified;
      return { kind: "object", className, args, state: new Map() };
    }
    return this.instance(qualified, args, kwargs);
  }

  private instance(className: string, args: PyValue[], kwargs?: PyValue): PyObject {
    const object: PyObject = { kind: "object", className, args, state: new Map() };
    if (isDict(kwargs)) {
      object.kwargs = new Map();
      for (const [key, value] of kwargs.entries)
        if (typeof key === "string") object.kwargs.set(key, value);
    }
    return object;
  }

  private build(raw: RawCall, target: PyValue, state: PyValue): void {
    const fail = (what: string) => this.fail(raw, what);
    if (typeof target !== "object" || target === null || Array.isArray(target)) {
      throw fail(`BUILD sets the state of ${typeof target}`);
    }
    switch (target.kind) {
      case "ndarray":
        return applyArrayState(target, state, fail);
      case "dtype":
        return applyDTypeState(target, state, fail);
      case "object":
        return setObjectState(target, state);
      default:
        throw fail(`BUILD sets the state of a ${target.kind}`);
    }
  }
}

/**
 * What BUILD does to an instance (pickle's load_build): a dict updates its __dict__; a
 * (dict, slots) pair updates both; anything else goes to __setstate__, kept here as rawState.
 */
function setObjectState(target: PyObject, state: PyValue): void {
  const pair = tupleItems(state);
  if (
    pair?.length === 2 &&
    (pair[0] === null || isDict(pair[0])) &&
    (pair[1] === null || isDict(pair[1]))
  ) {
    for (const part of pair) if (isDict(part)) mergeState(target, part);
    return;
  }
  if (isDict(state) && !state.otherEntries) {
    mergeState(target, state);
    return;
  }
  target.rawState = state;
}

function mergeState(target: PyObject, dict: PyDict): void {
  for (const [key, value] of dict.entries) target.state.set(String(key), value);
}

function addEntry(dict: PyDict, key: PyValue, value: PyValue): void {
  if (typeof key === "string" || typeof key === "number" || typeof key === "bigint")
    dict.entries.set(key, value);
  else if (typeof key === "boolean") dict.entries.set(key ? 1 : 0, value);
  else (dict.otherEntries ??= []).push([key, value]);
}

function classOf(cls: PyValue | undefined, fail: (what: string) => Error): string {
  if (!isPyObject(cls) || !cls.isClass)
    throw fail("an object is constructed from something other than a class");
  return cls.className;
}

function iterableItems(value: PyValue, fail: (what: string) => Error): PyValue[] {
  if (Array.isArray(value)) return value;
  if (
    typeof value === "object" &&
    value !== null &&
    (value.kind === "tuple" || value.kind === "set")
  )
    return value.items;
  throw fail("a set or dict built from something other than a list");
}

function bytearray(args: PyValue[], fail: (what: string) => Error): PyValue {
  const [source, encoding] = args;
  if (source === undefined) return { kind: "bytes", data: new Uint8Array(0) };
  if (
    typeof source === "object" &&
    source !== null &&
    !Array.isArray(source) &&
    source.kind === "bytes"
  )
    return { kind: "bytes", data: source.data };
  // Protocols 0–2: bytearray(text, "latin-1").
  if (typeof source === "string" && (encoding === "latin-1" || encoding === "latin1"))
    return { kind: "bytes", data: latin1Bytes(source, fail) };
  throw fail("bytearray of something other than bytes or latin-1 text");
}

function latin1Bytes(text: string, fail: (what: string) => Error): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) throw fail("latin-1 text with a character beyond latin-1");
    out[i] = c;
  }
  return out;
}

function isPyObject(value: PyValue | undefined): value is PyObject {
  return (
    typeof value === "object" && value !== null && !Array.isArray(value) && value.kind === "object"
  );
}

function isDict(value: PyValue | undefined): value is PyDict {
  return (
    typeof value === "object" && value !== null && !Array.isArray(value) && value.kind === "dict"
  );
}

function offsetOf(raw: RawNode): number {
  return raw.t === "ready" || raw.t === "bytes" ? 0 : raw.offset;
}
