import { describe, expect, it } from "vitest";
import {
  validateAlias,
  validateExperimentName,
  validateKey,
  validateMetricValue,
  validateModelName,
  validateParamValue,
  validateRunName,
  validateTags,
} from "../../../src/registry/store/names.js";
import { RegistryError } from "../../../src/registry/errors.js";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return error instanceof RegistryError ? error.code : "not a RegistryError";
  }
}

describe("names", () => {
  it.each([
    "ride-duration",
    "ride_duration_prediction_model",
    "m",
    "Model.v2",
    "1st",
    "a".repeat(256),
  ])("accepts model name %j", (name) => expect(validateModelName(name)).toBe(name));

  it.each(["", "-x", ".x", "_x", "a b", "a/b", "a@b", "a:b", "é", "a".repeat(257)])(
    "refuses model name %j",
    (name) => expect(codeOf(() => validateModelName(name))).toBe("INVALID_NAME"),
  );

  it("names the field and the value in the message", () => {
    expect(() => validateModelName("a b")).toThrow('invalid model name "a b"');
    expect(() => validateAlias("latest")).toThrow('invalid alias "latest"');
    expect(() => validateKey("metric", "a/../b")).toThrow('invalid metric key "a/../b"');
  });

  it.each(["production", "staging", "champion", "v1-candidate", "1", "vx"])(
    "accepts alias %j",
    (alias) => expect(validateAlias(alias)).toBe(alias),
  );

  it.each(["latest", "Latest", "v1", "V2", "v123", "", "a b", "@x"])("refuses alias %j", (alias) =>
    expect(codeOf(() => validateAlias(alias))).toBe("INVALID_NAME"),
  );

  it.each(["NYC taxi / ride duration", "exp", "Ünïcode ok", "/Users/me/exp"])(
    "accepts experiment name %j",
    (name) => expect(validateExperimentName(name)).toBe(name),
  );

  it.each(["", " lead", "trail ", "tab\there", "x".repeat(257)])(
    "refuses experiment name %j",
    (name) => expect(codeOf(() => validateExperimentName(name))).toBe("INVALID_NAME"),
  );

  it("checks run names like experiment names", () => {
    expect(validateRunName("baseline 2")).toBe("baseline 2");
    expect(codeOf(() => validateRunName("line\nbreak"))).toBe("INVALID_NAME");
  });

  it.each(["rmse", "eval/rmse", "a.b-c_d", "with space", "ns:key", "x".repeat(250)])(
    "accepts key %j",
    (key) => expect(validateKey("param", key)).toBe(key),
  );

  it.each([
    "",
    "..",
    ".",
    "a/../b",
    "../a",
    "a/..",
    "/abs",
    "a//b",
    "a/",
    "./a",
    "bad!",
    "x".repeat(251),
  ])("refuses key %j", (key) => expect(codeOf(() => validateKey("tag", key))).toBe("INVALID_NAME"));
});

describe("values", () => {
  it("stringifies params and limits their length", () => {
    expect(validateParamValue("lr", 0.001)).toBe("0.001");
    expect(validateParamValue("flag", false)).toBe("false");
    expect(validateParamValue("max", "x".repeat(6000))).toHaveLength(6000);
    expect(() => validateParamValue("big", "x".repeat(6001))).toThrow('param "big"');
    expect(codeOf(() => validateParamValue("obj", { a: 1 }))).toBe("INVALID_VALUE");
  });

  it("accepts finite metric values only, naming the key", () => {
    expect(validateMetricValue("m", -0.5)).toBe(-0.5);
    for (const bad of [NaN, Infinity, -Infinity, "1", null]) {
      expect(() => validateMetricValue("rmse", bad)).toThrow('metric "rmse"');
      expect(codeOf(() => validateMetricValue("rmse", bad))).toBe("INVALID_VALUE");
    }
  });

  it("checks every tag key and value", () => {
    expect(validateTags(undefined)).toEqual({});
    expect(validateTags({ a: "1" })).toEqual({ a: "1" });
    expect(codeOf(() => validateTags({ a: 1 }))).toBe("INVALID_VALUE");
    expect(codeOf(() => validateTags({ "a/../b": "1" }))).toBe("INVALID_NAME");
    expect(codeOf(() => validateTags({ a: "x".repeat(8001) }))).toBe("INVALID_VALUE");
  });
});
