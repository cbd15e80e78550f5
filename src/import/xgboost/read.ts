import { ImportError } from "../types.js";
import { modelFromBinary, modelFromConfigOffset } from "./binary-model.js";
import { modelFromJson } from "./json-model.js";
import type { XgbModel } from "./model.js";
import { decodeUbjson, parseJsonText } from "./ubjson.js";

export type XgbFormat = "json" | "ubjson" | "binary" | "config-offset";

/**
 * Which of XGBoost's formats `bytes` is, as LearnerIO::LoadModel / Load decide
 * (src/learner.cc): "{" then, after white space, a quote (or "}") is JSON text, a letter is
 * UBJSON (its first key's length marker, "L"); "CONFIG-offset:" is XGBoost 1.0's pickled
 * serialization; anything else is the legacy binary format (with or without "binf").
 */
export function detectFormat(bytes: Uint8Array): XgbFormat {
  let i = 0;
  while (i < bytes.length && isSpace(bytes[i])) i++;
  if (bytes[i] === 0x7b /* { */) {
    let j = i + 1;
    while (j < bytes.length && isSpace(bytes[j])) j++;
    const next = bytes[j];
    if (next === 0x22 /* " */ || next === 0x7d /* } */) return "json";
    if (j === i + 1 && next !== undefined && (isAlpha(next) || next === 0x24 || next === 0x23))
      return "ubjson"; // a key's length marker, or an optimized object's $ / #
    return "json";
  }
  const head = String.fromCharCode(...bytes.subarray(0, 14));
  if (head === "CONFIG-offset:") return "config-offset";
  return "binary";
}

/** Reads any XGBoost model file or Booster snapshot; `source` names it in errors. */
export function readXgboostModel(bytes: Uint8Array, source = "XGBoost model"): XgbModel {
  if (bytes.length === 0) throw new ImportError(`${source}: the file is empty`);
  const format = detectFormat(bytes);
  switch (format) {
    case "json":
      return modelFromJson(parseJsonText(bytes, source), source);
    case "ubjson":
      return modelFromJson(decodeUbjson(bytes, source), source);
    case "config-offset":
      return modelFromConfigOffset(bytes, source);
    case "binary":
      return modelFromBinary(bytes, source);
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}
