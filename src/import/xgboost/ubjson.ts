import { ImportError } from "../types.js";

/**
 * A decoded JSON / UBJSON document. Objects have no prototype (a key such as "__proto__" in a
 * file is just a key); typed UBJSON containers (`[$d#L…`) decode to plain number arrays.
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** Deeper than any XGBoost model nests (about 8 levels); stops a hostile file from exhausting the stack. */
const MAX_DEPTH = 64;

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Universal Binary JSON (ubjson.org, draft 12), as XGBoost's UBJWriter writes it
 * (src/common/json.cc: big-endian numbers, `L`-sized strings and keys, `[#L n` arrays, typed
 * arrays `[$d#L n` of f32 / `$U` u8 / `$l` i32 / `$L` i64) and as the spec allows beyond that
 * (any integer length marker, optimized objects, `N` no-ops, `D` f64, `C`, `H`). Every read
 * is bounds-checked: a truncated or corrupt file is an ImportError naming `source`, never a
 * crash or a huge allocation.
 */
export function decodeUbjson(bytes: Uint8Array, source = "UBJSON model"): JsonValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;

  const fail = (problem: string): never => {
    throw new ImportError(`${source}: not a valid UBJSON document (${problem} at byte ${pos})`);
  };
  const need = (n: number): void => {
    if (n < 0 || pos + n > bytes.length) fail("unexpected end of data");
  };
  const marker = (): number => {
    // `N` is UBJSON's no-op marker, allowed between values.
    while (pos < bytes.length && bytes[pos] === 0x4e) pos++;
    need(1);
    return bytes[pos++];
  };

  const integer = (type: number): number => {
    switch (String.fromCharCode(type)) {
      case "i":
        need(1);
        return view.getInt8(pos++);
      case "U":
        need(1);
        return view.getUint8(pos++);
      case "I":
        need(2);
        pos += 2;
        return view.getInt16(pos - 2);
      case "l":
        need(4);
        pos += 4;
        return view.getInt32(pos - 4);
      case "L": {
        need(8);
        const value = view.getBigInt64(pos);
        pos += 8;
        if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER))
          fail(`64-bit integer ${value} out of range`);
        return Number(value);
      }
      default:
        return fail(`expected an integer marker, found "${String.fromCharCode(type)}"`);
    }
  };

  const length = (): number => {
    const n = integer(marker());
    if (n < 0) fail(`negative length ${n}`);
    return n;
  };

  const string = (): string => {
    const n = length();
    need(n);
    pos += n;
    try {
      return decoder.decode(bytes.subarray(pos - n, pos));
    } catch {
      return fail("invalid UTF-8 in a string");
    }
  };

  const scalar = (type: number, depth: number): JsonValue => {
    switch (String.fromCharCode(type)) {
      case "Z":
        return null;
      case "T":
        return true;
      case "F":
        return false;
      case "i":
      case "U":
      case "I":
      case "l":
      case "L":
        return integer(type);
      case "d":
        need(4);
        pos += 4;
        return view.getFloat32(pos - 4);
      case "D":
        need(8);
        pos += 8;
        return view.getFloat64(pos - 8);
      case "C":
        need(1);
        return String.fromCharCode(bytes[pos++]);
      case "S":
        return string();
      case "H": {
        const text = string();
        const number = Number(text);
        if (!Number.isFinite(number)) fail(`high-precision number "${text}" is not a number`);
        return number;
      }
      case "[":
        return array(depth + 1);
      case "{":
        return object(depth + 1);
      default:
        return fail(`unknown marker "${String.fromCharCode(type)}" (0x${type.toString(16)})`);
    }
  };

  /** `$type#count` after an opening bracket, when present. */
  const header = (): { type?: number; count?: number } => {
    if (pos < bytes.length && bytes[pos] === 0x24 /* $ */) {
      pos++;
      need(1);
      const type = bytes[pos++];
      need(1);
      if (bytes[pos] !== 0x23 /* # */) fail("a typed container needs a count");
      pos++;
      return { type, count: length() };
    }
    if (pos < bytes.length && bytes[pos] === 0x23 /* # */) {
      pos++;
      return { count: length() };
    }
    return {};
  };

  const typedWidth: Record<string, number> = { i: 1, U: 1, I: 2, l: 4, L: 8, d: 4, D: 8 };

  const array = (depth: number): JsonValue[] => {
    if (depth > MAX_DEPTH) fail("nesting too deep");
    const { type, count } = header();
    const items: JsonValue[] = [];
    if (count !== undefined) {
      // Each element takes at least one byte (or its fixed width): a count larger than what
      // is left is corrupt, and checking first avoids allocating for it.
      const width = type === undefined ? 1 : (typedWidth[String.fromCharCode(type)] ?? 1);
      need(count * width);
      for (let i = 0; i < count; i++) {
        items.push(type === undefined ? scalar(marker(), depth) : scalar(type, depth));
      }
      return items;
    }
    for (;;) {
      const next = marker();
      if (next === 0x5d /* ] */) return items;
      items.push(scalar(next, depth));
    }
  };

  const object = (depth: number): JsonObject => {
    if (depth > MAX_DEPTH) fail("nesting too deep");
    const { type, count } = header();
    const result = Object.create(null) as JsonObject;
    if (count !== undefined) {
      need(count * 2);
      for (let i = 0; i < count; i++) {
        const key = string();
        result[key] = type === undefined ? scalar(marker(), depth) : scalar(type, depth);
      }
      return result;
    }
    for (;;) {
      while (pos < bytes.length && bytes[pos] === 0x4e) pos++;
      need(1);
      if (bytes[pos] === 0x7d /* } */) {
        pos++;
        return result;
      }
      const key = string();
      result[key] = scalar(marker(), depth);
    }
  };

  const value = scalar(marker(), 0);
  return value;
}

/** JSON text, with objects made prototype-less like decodeUbjson's; errors name `source`. */
export function parseJsonText(bytes: Uint8Array, source = "JSON model"): JsonValue {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new ImportError(`${source}: not valid UTF-8 JSON text`);
  }
  try {
    // XGBoost's JsonWriter writes non-finite floats as NaN / Infinity / -Infinity, which
    // JSON.parse refuses: quote them first, outside strings only, then decode.
    return JSON.parse(quoteNonFinite(text), (_key, value: unknown) => {
      if (value === "\u0000NaN") return Number.NaN;
      if (value === "\u0000Infinity") return Number.POSITIVE_INFINITY;
      if (value === "\u0000-Infinity") return Number.NEGATIVE_INFINITY;
      if (value !== null && typeof value === "object" && !Array.isArray(value)) {
        return Object.assign(Object.create(null) as JsonObject, value);
      }
      return value;
    }) as JsonValue;
  } catch (error) {
    throw new ImportError(`${source}: not valid JSON (${(error as Error).message})`);
  }
}

function quoteNonFinite(text: string): string {
  if (!/NaN|Infinity/.test(text)) return text;
  let out = "";
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === "\\") out += text[++i] ?? "";
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
      continue;
    }
    const rest = text.slice(i, i + 9);
    if (rest.startsWith("NaN")) {
      out += '"\\u0000NaN"';
      i += 2;
    } else if (rest.startsWith("-Infinity")) {
      out += '"\\u0000-Infinity"';
      i += 8;
    } else if (rest.startsWith("Infinity")) {
      out += '"\\u0000Infinity"';
      i += 7;
    } else {
      out += c;
    }
  }
  return out;
}
