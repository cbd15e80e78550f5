import { describe, expect, test } from "vitest";
import {
  compileFeature,
  parseFeatureDeclaration,
  parseFeatureDeclarations,
} from "../../../src/import/feature-expr.js";
import { evaluateFeature, referencedColumns } from "../../../src/model/transform.js";
import { featureExprSchema } from "../../../src/model/schema.js";

const none = new Set<string>();

describe("--feature NAME=EXPR", () => {
  test("the original service's PU_DO is a concatenation of the two ids", () => {
    const declaration = parseFeatureDeclaration('PU_DO=PULocationID + "_" + DOLocationID');
    expect(declaration.name).toBe("PU_DO");
    const expr = compileFeature(declaration, { target: "string", stringColumns: none });
    expect(expr).toEqual({
      concat: [{ column: "PULocationID" }, "_", { column: "DOLocationID" }],
    });
    // Numbers print as Python's str() prints the ints the request carried.
    const column = evaluateFeature(expr, {
      rows: 2,
      columns: {
        PULocationID: new Float64Array([130, 7]),
        DOLocationID: new Float64Array([205, 12.5]),
      },
    });
    expect(column).toEqual(["130_205", "7_12.5"]);
  });

  test("quoted names, escapes, parentheses and spaces", () => {
    const declaration = parseFeatureDeclaration(
      ' key = (`pickup zone` + "\\"-\\u0041\\\\") + drop ',
    );
    expect(declaration.name).toBe("key");
    expect(declaration.terms).toEqual([
      { kind: "column", name: "pickup zone" },
      { kind: "string", value: '"-A\\' },
      { kind: "column", name: "drop" },
    ]);
  });

  test("+ of numeric columns adds them, and the sum form round-trips through the bundle schema", () => {
    const declaration = parseFeatureDeclaration("total=fare + tip + 1.5");
    const expr = compileFeature(declaration, { target: "double", stringColumns: none });
    expect(expr).toEqual({ sum: [{ column: "fare" }, { column: "tip" }, 1.5] });
    expect(featureExprSchema.parse(expr)).toEqual(expr);
    expect([...referencedColumns({ total: expr })]).toEqual(["fare", "tip"]);
    const column = evaluateFeature(expr, {
      rows: 2,
      columns: { fare: new Float64Array([10, 20]), tip: new Float64Array([1, 2]) },
    });
    expect(Array.from(column as Float64Array)).toEqual([12.5, 23.5]);
  });

  test("a column the model takes as a string makes + a concatenation", () => {
    const declaration = parseFeatureDeclaration("route=zone + other");
    expect(
      compileFeature(declaration, { target: "string", stringColumns: new Set(["zone"]) }),
    ).toEqual({ concat: [{ column: "zone" }, { column: "other" }] });
    expect(() =>
      compileFeature(parseFeatureDeclaration('n=a + "x"'), {
        target: "double",
        stringColumns: none,
      }),
    ).toThrow(/takes "n" as a number \(double\), but the expression joins texts/);
  });

  test.each([
    ["PU_DO=PULocationID + ", "expected a column or a string after '+' at character 22"],
    ["PU_DO=", "expected a column or a string after '=' at character 7"],
    ['PU_DO=a + "_', 'unterminated string (missing closing ") at character 11'],
    ["PU_DO a", "expected '=' after the feature's name at character 7"],
    ["=a", "expected the feature's name before '=' at character 1"],
    ["x=(a + b", "expected ')' at character 9"],
    ["x=a b", "expected '+' or the end, found 'b' at character 5"],
    ["x=a)", "unbalanced ')' at character 4"],
    ['x="\\q"', "unknown escape \\q in a string at character 4"],
  ])("%s is refused with its position", (text, message) => {
    expect(() => parseFeatureDeclaration(text)).toThrow(`--feature '${text}': ${message}`);
  });

  test("a feature declared twice is refused", () => {
    expect(() => parseFeatureDeclarations(["a=x", "a=y"])).toThrow(/"a" is declared twice/);
  });
});
