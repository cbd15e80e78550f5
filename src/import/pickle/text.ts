import { latin1 } from "./cursor.js";

/**
 * Protocol 0's text arguments (INT, LONG, FLOAT, STRING, UNICODE), parsed as CPython's
 * Unpickler does. Each returns undefined for text CPython would reject; the caller names the
 * opcode and the offset.
 */

/**
 * Python 3.11 refuses int <-> str conversions longer than 4300 digits (sys.int_info
 * default_max_str_digits); so does this reader, which also keeps BigInt parsing cheap.
 */
export const MAX_INT_DIGITS = 4300;

export function parseIntText(text: string): number | bigint | undefined {
  if (!/^[+-]?\d+$/.test(text) || text.length > MAX_INT_DIGITS + 1) return undefined;
  return normalizeInt(BigInt(text));
}

/** A Python int: a number when exact (|n| ≤ 2^53), a bigint beyond. */
export function normalizeInt(value: bigint): number | bigint {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
    ? Number(value)
    : value;
}

/** LONG1/LONG4's little-endian two's-complement bytes. */
export function decodeLong(bytes: Uint8Array): number | bigint {
  const n = bytes.length;
  if (n === 0) return 0;
  if (n <= 6) {
    let value = 0;
    for (let i = n - 1; i >= 0; i--) value = value * 256 + bytes[i];
    return bytes[n - 1] & 0x80 ? value - 2 ** (8 * n) : value;
  }
  let hex = "";
  for (let i = n - 1; i >= 0; i--) hex += bytes[i].toString(16).padStart(2, "0");
  let value = BigInt(`0x${hex}`);
  if (bytes[n - 1] & 0x80) value -= 1n << BigInt(8 * n);
  return normalizeInt(value);
}

/** float(text) as Python parses repr() output: "1.5", "1e+100", "inf", "-inf", "nan". */
export function parseFloatText(text: string): number | undefined {
  const t = text.trim().toLowerCase();
  const special = /^([+-]?)(inf|infinity|nan)$/.exec(t);
  if (special) {
    if (special[2] === "nan") return NaN;
    return special[1] === "-" ? -Infinity : Infinity;
  }
  if (!/^[+-]?(\d[\d_]*\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t)) return undefined;
  return Number(t.replaceAll("_", ""));
}

const SIMPLE_ESCAPES: Record<string, number> = {
  "\\": 0x5c,
  "'": 0x27,
  '"': 0x22,
  a: 0x07,
  b: 0x08,
  f: 0x0c,
  n: 0x0a,
  r: 0x0d,
  t: 0x09,
  v: 0x0b,
};

/**
 * STRING's quoted Python 2 str literal (codecs.escape_decode), as latin-1 text (CPython decodes
 * it with the `encoding` given to load, ASCII by default).
 */
export function parseQuotedString(raw: Uint8Array): string | undefined {
  if (raw.length < 2 || raw[0] !== raw[raw.length - 1] || (raw[0] !== 0x27 && raw[0] !== 0x22))
    return undefined;
  const body = latin1(raw.subarray(1, raw.length - 1));
  const out: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== "\\" || i + 1 >= body.length) {
      out.push(body.charCodeAt(i));
      continue;
    }
    const next = body[++i];
    if (next in SIMPLE_ESCAPES) out.push(SIMPLE_ESCAPES[next]);
    else if (next === "\n") continue;
    else if (next === "x") {
      const hex = body.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return undefined;
      out.push(parseInt(hex, 16));
      i += 2;
    } else if (/[0-7]/.test(next)) {
      let digits = next;
      while (digits.length < 3 && /[0-7]/.test(body[i + 1] ?? "")) digits += body[++i];
      out.push(parseInt(digits, 8) & 0xff);
    } else out.push(0x5c, next.charCodeAt(0));
  }
  return String.fromCharCode(...out);
}

/**
 * UNICODE's raw-unicode-escape text: bytes are latin-1 characters except \uXXXX and
 * \UXXXXXXXX, which escape only after an odd run of backslashes (CPython's decoder).
 */
export function rawUnicodeEscape(raw: Uint8Array): string | undefined {
  let out = "";
  let i = 0;
  while (i < raw.length) {
    if (raw[i] !== 0x5c) {
      let j = i;
      while (j < raw.length && raw[j] !== 0x5c) j++;
      out += latin1(raw.subarray(i, j));
      i = j;
      continue;
    }
    const start = i;
    while (i < raw.length && raw[i] === 0x5c) i++;
    const run = i - start;
    const escaped = run % 2 === 1 && i < raw.length && (raw[i] === 0x75 || raw[i] === 0x55);
    out += "\\".repeat(escaped ? run - 1 : run);
    if (!escaped) continue;
    const digits = raw[i] === 0x75 ? 4 : 8;
    const hex = latin1(raw.subarray(i + 1, i + 1 + digits));
    if (hex.length !== digits || !/^[0-9a-fA-F]+$/.test(hex)) return undefined;
    const code = parseInt(hex, 16);
    if (code > 0x10ffff) return undefined;
    out += String.fromCodePoint(code);
    i += 1 + digits;
  }
  return out;
}
