import { ImportError } from "../types.js";
import { type Cursor, latin1, utf8Text } from "./cursor.js";
import { fixPy2Name } from "./globals.js";
import { HIGHEST_PROTOCOL, OP, opName } from "./opcodes.js";
import {
  decodeLong,
  MAX_INT_DIGITS,
  parseFloatText,
  parseIntText,
  parseQuotedString,
  rawUnicodeEscape,
} from "./text.js";
import type { PyValue } from "./values.js";

/**
 * Pass 1 of the reader: runs the pickle's opcodes (CPython's _Unpickler, opcode for opcode)
 * over inert records — strings, numbers, lists, tuples, dicts, "global X", "call X with these
 * arguments, then BUILD with that state". No class is given a meaning and nothing is called
 * here; every global is checked against the allow-list at the opcode that names it, so a file
 * asking for os.system is refused before pass 2 (lift.ts) builds a single object from it.
 *
 * One job over ~520 lines: the opcode table of pickle protocols 0–5, each opcode a few lines,
 * kept together so it reads against CPython's _Unpickler one to one.
 */

export type Raw = null | boolean | number | bigint | string | RawNode;
export type RawNode =
  RawBytes | RawList | RawTuple | RawDict | RawSet | RawGlobal | RawCall | RawReady;

export interface RawBytes {
  readonly t: "bytes";
  readonly data: Uint8Array;
}
export interface RawList {
  readonly t: "list";
  readonly offset: number;
  readonly items: Raw[];
}
export interface RawTuple {
  readonly t: "tuple";
  readonly offset: number;
  readonly items: Raw[];
}
export interface RawDict {
  readonly t: "dict";
  readonly offset: number;
  readonly pairs: Array<[Raw, Raw]>;
}
export interface RawSet {
  readonly t: "set";
  readonly offset: number;
  readonly items: Raw[];
}
/** A global named by GLOBAL / STACK_GLOBAL / INST (already allowed), Python 2 names mapped. */
export interface RawGlobal {
  readonly t: "global";
  readonly module: string;
  readonly name: string;
  readonly offset: number;
}
/** REDUCE / NEWOBJ / NEWOBJ_EX / OBJ / INST of `callee`, and what was done to the result. */
export interface RawCall {
  readonly t: "call";
  readonly callee: Raw;
  readonly args: Raw[];
  readonly kwargs?: Raw;
  readonly opcode: string;
  readonly offset: number;
  readonly builds: Raw[];
  readonly appends: Raw[];
  readonly setitems: Array<[Raw, Raw]>;
}
/** A value the joblib hook already read (an array's bytes that follow its wrapper). */
export interface RawReady {
  readonly t: "ready";
  readonly value: PyValue;
}

export interface VmHooks {
  /** Called for every global at the opcode naming it; throws to refuse the file. */
  checkGlobal(module: string, name: string, offset: number): void;
  /** BUILD of an object joblib reads data after (NumpyArrayWrapper): what replaces it. */
  afterBuild?(object: RawCall, cursor: Cursor): Raw | undefined;
}

export interface VmResult {
  root: Raw;
  /** The protocol PROTO declared (0 when absent: protocols 0 and 1 have no PROTO). */
  protocol: number;
}

/** Records one stream; bounded by the stream itself (each opcode adds O(1) records). */
export function runPickle(cursor: Cursor, hooks: VmHooks): VmResult {
  let stack: Raw[] = [];
  const metastack: Raw[][] = [];
  const memo = new Map<number, Raw>();
  let protocol = 0;
  let at = cursor.pos;
  let op = 0;

  const fail = (what: string): ImportError => cursor.fail(`${opName(op)}: ${what}`, at);
  const pop = (): Raw => {
    if (stack.length === 0) throw fail("the stack is empty (stack underflow, or a MARK misplaced)");
    return stack.pop() as Raw;
  };
  const top = (): Raw => {
    if (stack.length === 0) throw fail("the stack is empty (stack underflow)");
    return stack[stack.length - 1];
  };
  const popMark = (): Raw[] => {
    const items = stack;
    const outer = metastack.pop();
    if (!outer) throw fail("no MARK before it");
    stack = outer;
    return items;
  };
  const put = (key: number) => {
    memo.set(key, top());
  };
  const get = (key: number) => {
    if (!memo.has(key)) throw fail(`memo key ${key} was never stored`);
    stack.push(memo.get(key) as Raw);
  };
  const textLine = (what: string) => latin1(cursor.line(what));
  const memoKey = (text: string) => {
    const key = parseIntText(text);
    if (typeof key !== "number" || key < 0)
      throw fail(`memo key "${text.slice(0, 40)}" is not an index`);
    return key;
  };
  const pushGlobal = (module: string, name: string, offset: number): RawGlobal => {
    const [m, n] = protocol < 3 ? fixPy2Name(module, name) : [module, name];
    hooks.checkGlobal(m, n, offset);
    return { t: "global", module: m, name: n, offset };
  };
  const call = (callee: Raw, args: Raw, kwargs?: Raw): RawCall => {
    if (!isTuple(args)) throw fail(`its arguments are ${kindOf(args)}, not a tuple`);
    return {
      t: "call",
      callee,
      args: args.items,
      kwargs,
      opcode: opName(op),
      offset: at,
      builds: [],
      appends: [],
      setitems: [],
    };
  };
  const setItems = (target: Raw, pairs: Raw[]) => {
    if (pairs.length % 2) throw fail("an odd number of items (a key without a value)");
    const out: Array<[Raw, Raw]> = [];
    for (let i = 0; i < pairs.length; i += 2) out.push([pairs[i], pairs[i + 1]]);
    if (isNode(target, "dict")) pushAll(target.pairs, out);
    else if (isNode(target, "call")) pushAll(target.setitems, out);
    else throw fail(`sets items on ${kindOf(target)}`);
  };
  const appendItems = (target: Raw, items: Raw[]) => {
    if (isNode(target, "list")) pushAll(target.items, items);
    else if (isNode(target, "call")) pushAll(target.appends, items);
    else throw fail(`appends to ${kindOf(target)}`);
  };
  const length = (n: number) => {
    if (n < 0) throw fail(`a negative length (${n})`);
    return n;
  };

  for (;;) {
    at = cursor.pos;
    if (cursor.remaining === 0) {
      throw cursor.fail(
        "the stream ends before its STOP opcode (the file is truncated or not a pickle)",
      );
    }
    op = cursor.u8("an opcode");
    const name = opName(op);
    switch (op) {
      case OP.PROTO: {
        protocol = cursor.u8(name);
        if (protocol > HIGHEST_PROTOCOL)
          throw fail(`protocol ${protocol} is newer than the 0–${HIGHEST_PROTOCOL} mldeploy reads`);
        break;
      }
      case OP.FRAME:
        // Frames only tell a reader how much to buffer: the opcodes inside read the same.
        cursor.u64Length(name);
        break;
      case OP.STOP:
        return { root: pop(), protocol };
      case OP.MARK:
        metastack.push(stack);
        stack = [];
        break;
      case OP.POP:
        if (stack.length) stack.pop();
        else popMark();
        break;
      case OP.POP_MARK:
        popMark();
        break;
      case OP.DUP:
        stack.push(top());
        break;

      case OP.NONE:
        stack.push(null);
        break;
      case OP.NEWTRUE:
        stack.push(true);
        break;
      case OP.NEWFALSE:
        stack.push(false);
        break;
      case OP.INT: {
        const text = textLine(name);
        if (text === "01") stack.push(true);
        else if (text === "00") stack.push(false);
        else {
          const value = parseIntText(text);
          if (value === undefined) throw fail(`"${text.slice(0, 40)}" is not an int`);
          stack.push(value);
        }
        break;
      }
      case OP.LONG: {
        const text = textLine(name);
        const value = parseIntText(text.endsWith("L") ? text.slice(0, -1) : text);
        if (value === undefined)
          throw fail(`"${text.slice(0, 40)}" is not an int of at most ${MAX_INT_DIGITS} digits`);
        stack.push(value);
        break;
      }
      case OP.BININT:
        stack.push(cursor.i32(name));
        break;
      case OP.BININT1:
        stack.push(cursor.u8(name));
        break;
      case OP.BININT2:
        stack.push(cursor.u16(name));
        break;
      case OP.LONG1:
        stack.push(decodeLong(cursor.take(cursor.u8(name), name)));
        break;
      case OP.LONG4: {
        const n = length(cursor.i32(name));
        if (n > MAX_LONG_BYTES)
          throw fail(`an int of ${n} bytes (at most ${MAX_LONG_BYTES} are read)`);
        stack.push(decodeLong(cursor.take(n, name)));
        break;
      }
      case OP.FLOAT: {
        const text = textLine(name);
        const value = parseFloatText(text);
        if (value === undefined) throw fail(`"${text.slice(0, 40)}" is not a float`);
        stack.push(value);
        break;
      }
      case OP.BINFLOAT:
        stack.push(cursor.f64be(name));
        break;

      case OP.STRING: {
        const value = parseQuotedString(cursor.line(name));
        if (value === undefined) throw fail("not a quoted string literal");
        stack.push(value);
        break;
      }
      // Python 2 str: text for Python 3 (CPython decodes it, ASCII by default; latin-1 here
      // keeps binary data such as a numpy array's bytes from Python 2 readable).
      case OP.BINSTRING:
        stack.push(latin1(cursor.take(length(cursor.i32(name)), name)));
        break;
      case OP.SHORT_BINSTRING:
        stack.push(latin1(cursor.take(cursor.u8(name), name)));
        break;
      case OP.UNICODE: {
        const value = rawUnicodeEscape(cursor.line(name));
        if (value === undefined) throw fail("a malformed \\u escape");
        stack.push(value);
        break;
      }
      case OP.SHORT_BINUNICODE:
        stack.push(utf8Text(cursor.take(cursor.u8(name), name)));
        break;
      case OP.BINUNICODE:
        stack.push(utf8Text(cursor.take(cursor.u32(name), name)));
        break;
      case OP.BINUNICODE8:
        stack.push(utf8Text(cursor.take(cursor.u64Length(name), name)));
        break;
      case OP.SHORT_BINBYTES:
        stack.push({ t: "bytes", data: cursor.take(cursor.u8(name), name) });
        break;
      case OP.BINBYTES:
        stack.push({ t: "bytes", data: cursor.take(cursor.u32(name), name) });
        break;
      case OP.BINBYTES8:
      case OP.BYTEARRAY8:
        stack.push({ t: "bytes", data: cursor.take(cursor.u64Length(name), name) });
        break;

      case OP.EMPTY_LIST:
        stack.push({ t: "list", items: [], offset: at });
        break;
      case OP.EMPTY_TUPLE:
        stack.push({ t: "tuple", items: [], offset: at });
        break;
      case OP.EMPTY_DICT:
        stack.push({ t: "dict", pairs: [], offset: at });
        break;
      case OP.EMPTY_SET:
        stack.push({ t: "set", items: [], offset: at });
        break;
      case OP.LIST:
        {
          const items = popMark();
          stack.push({ t: "list", items, offset: at });
        }
        break;
      case OP.TUPLE:
        {
          const items = popMark();
          stack.push({ t: "tuple", items, offset: at });
        }
        break;
      case OP.TUPLE1:
      case OP.TUPLE2:
      case OP.TUPLE3: {
        const n = op - OP.TUPLE1 + 1;
        if (stack.length < n) throw fail(`needs ${n} items, the stack has ${stack.length}`);
        stack.push({ t: "tuple", items: stack.splice(stack.length - n, n), offset: at });
        break;
      }
      case OP.DICT: {
        const dict: RawDict = { t: "dict", pairs: [], offset: at };
        const items = popMark();
        setItems(dict, items);
        stack.push(dict);
        break;
      }
      case OP.FROZENSET:
        {
          const items = popMark();
          stack.push({ t: "set", items, offset: at });
        }
        break;
      case OP.APPEND: {
        const value = pop();
        appendItems(top(), [value]);
        break;
      }
      case OP.APPENDS: {
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case OP.SETITEM: {
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case OP.SETITEMS: {
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case OP.ADDITEMS: {
        const items = popMark();
        const target = top();
        if (!isNode(target, "set")) throw fail(`adds items to ${kindOf(target)}`);
        pushAll(target.items, items);
        break;
      }

      case OP.PUT:
        put(memoKey(textLine(name)));
        break;
      case OP.BINPUT:
        put(cursor.u8(name));
        break;
      case OP.LONG_BINPUT:
        put(cursor.u32(name));
        break;
      case OP.MEMOIZE:
        put(memo.size);
        break;
      case OP.GET:
        get(memoKey(textLine(name)));
        break;
      case OP.BINGET:
        get(cursor.u8(name));
        break;
      case OP.LONG_BINGET:
        get(cursor.u32(name));
        break;

      case OP.GLOBAL: {
        const module = utf8Text(cursor.line(name));
        stack.push(pushGlobal(module, utf8Text(cursor.line(name)), at));
        break;
      }
      case OP.STACK_GLOBAL: {
        const globalName = pop();
        const module = pop();
        if (typeof module !== "string" || typeof globalName !== "string") {
          throw new ImportError(
            `${cursor.source}: refused to load: a STACK_GLOBAL at byte ${at} names its global with ` +
              `${kindOf(module)} and ${kindOf(globalName)}, not two strings`,
          );
        }
        stack.push(pushGlobal(module, globalName, at));
        break;
      }
      case OP.INST: {
        const module = utf8Text(cursor.line(name));
        const cls = pushGlobal(module, utf8Text(cursor.line(name)), at);
        const items = popMark();
        stack.push(call(cls, { t: "tuple", items, offset: at }));
        break;
      }
      case OP.OBJ: {
        const items = popMark();
        if (items.length === 0) throw fail("no class after its MARK");
        const [cls, ...args] = items;
        stack.push(call(cls, { t: "tuple", items: args, offset: at }));
        break;
      }
      case OP.REDUCE: {
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case OP.NEWOBJ: {
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case OP.NEWOBJ_EX: {
        const kwargs = pop();
        const args = pop();
        stack.push(call(pop(), args, kwargs));
        break;
      }
      case OP.BUILD: {
        const state = pop();
        const target = top();
        if (!isNode(target, "call")) throw fail(`sets the state of ${kindOf(target)}`);
        target.builds.push(state);
        const replacement = hooks.afterBuild?.(target, cursor);
        if (replacement !== undefined) stack[stack.length - 1] = replacement;
        break;
      }

      case OP.PERSID:
      case OP.BINPERSID:
        throw refuse(
          cursor,
          at,
          `uses persistent ids (${name}), which name objects kept outside the file`,
        );
      case OP.EXT1:
      case OP.EXT2:
      case OP.EXT4:
        throw refuse(
          cursor,
          at,
          `names a global through copyreg's extension registry (${name}), which mldeploy does not read`,
        );
      case OP.NEXT_BUFFER:
      case OP.READONLY_BUFFER:
        throw refuse(
          cursor,
          at,
          `expects out-of-band buffers (${name}, pickle protocol 5 with buffer_callback), which are not in the file`,
        );
      default:
        throw cursor.fail(
          `byte 0x${op.toString(16).padStart(2, "0")} is not a pickle opcode (the file is corrupt or not a pickle)`,
          at,
        );
    }
  }
}

/** push(...items) overflows the call stack beyond ~100k items; a MARK may hold millions. */
function pushAll<T>(target: T[], items: readonly T[]): void {
  for (const item of items) target.push(item);
}

/** LONG4 ints longer than this are refused (no model holds a 2-million-digit int). */
export const MAX_LONG_BYTES = 1 << 20;

function refuse(cursor: Cursor, at: number, what: string): ImportError {
  return new ImportError(`${cursor.source}: refused to load: the pickle ${what} (byte ${at})`);
}

export function isNode<T extends RawNode["t"]>(
  raw: Raw | undefined,
  t: T,
): raw is Extract<RawNode, { t: T }> {
  return typeof raw === "object" && raw !== null && raw.t === t;
}

function isTuple(raw: Raw): raw is RawTuple {
  return isNode(raw, "tuple");
}

/** For messages: "a list", "a str", "os.system"… */
export function kindOf(raw: Raw | undefined): string {
  if (raw === undefined) return "nothing";
  if (raw === null) return "None";
  if (typeof raw === "boolean") return "a bool";
  if (typeof raw === "number" || typeof raw === "bigint") return "an int or float";
  if (typeof raw === "string") return "a str";
  switch (raw.t) {
    case "global":
      return `${raw.module}.${raw.name}`;
    case "call":
      return `the result of ${raw.opcode} at byte ${raw.offset}`;
    case "ready":
      return "a numpy array";
    default:
      return `a ${raw.t}`;
  }
}
