import type { ColumnSpec } from "../../model/types.js";
import type { GraphBuilder } from "../onnx/graph.js";
import { describe, isNdArray, optionalAttr, scalarNumber, toValues } from "../pickle/access.js";
import type { PyObject, PyValue } from "../pickle/values.js";
import { ImportError } from "../types.js";
import type { FeatureColumn, FeatureMatrix } from "./stage.js";

/**
 * What the stages of one conversion share: the graph, and the request columns it reads. A
 * column can feed several transformers (a ColumnTransformer may select it twice), so inputs
 * are declared once, on first use, with one type.
 */
export class StageContext {
  private readonly declared = new Map<string, { type: InputType; column?: string }>();

  constructor(readonly graph: GraphBuilder) {}

  /** The [N] graph input `name` of `type`, declared on first use. */
  input(name: string, type: InputType, user: string): string {
    const known = this.declared.get(name);
    if (known) {
      if (known.type !== type) {
        throw new ImportError(
          `${user} reads column "${name}" as ${typeWord(type)}, but another step reads it as ` +
            `${typeWord(known.type)}; one request column cannot be both`,
        );
      }
      return name;
    }
    this.declared.set(name, { type });
    return this.graph.input(name, type);
  }

  /** The request column `name` as a [N, 1] DOUBLE column (declared on first use). */
  numericColumn(name: string, user: string): string {
    this.input(name, "DOUBLE", user);
    const known = this.declared.get(name) as { type: InputType; column?: string };
    known.column ??= this.graph.op("Unsqueeze", [name, this.axes()], {}, { output: `${name}_2d` });
    return known.column;
  }

  /** The graph inputs in declaration order, as the ConvertedModel lists them. */
  inputSpecs(): ColumnSpec[] {
    return [...this.declared].map(([name, { type }]) => ({
      name,
      type: type === "STRING" ? "string" : "double",
    }));
  }

  private axesName?: string;
  /** The constant [1] used to unsqueeze [N] columns to [N, 1]. */
  axes(): string {
    this.axesName ??= this.graph.constant("axis_1", "INT64", [1], [1]);
    return this.axesName;
  }
}

export type InputType = "STRING" | "DOUBLE";

function typeWord(type: InputType): string {
  return type === "STRING" ? "strings" : "numbers";
}

/** [N, 1] columns side by side as one [N, k] tensor. */
export function stack(graph: GraphBuilder, columns: string[], hint: string): string {
  if (columns.length === 1) return columns[0];
  return graph.op("Concat", columns, { axis: { int: 1 } }, { output: hint });
}

/** Several stages' outputs side by side (ColumnTransformer's hstack). */
export function concatMatrices(graph: GraphBuilder, parts: FeatureMatrix[]): FeatureMatrix {
  if (parts.length === 0) {
    throw new ImportError("ColumnTransformer selects no columns: its output would be empty");
  }
  if (parts.length === 1) return parts[0];
  const features: FeatureColumn[] = [];
  const names: string[] = [];
  let offset = 0;
  for (const part of parts) {
    for (const feature of part.features)
      features.push({ ...feature, column: feature.column + offset });
    part.features.forEach((_, j) => names.push(part.names?.[j] ?? `f${names.length}`));
    offset += part.width;
  }
  return {
    value: graph.op(
      "Concat",
      parts.map((p) => p.value),
      { axis: { int: 1 } },
      { output: "x" },
    ),
    width: offset,
    features,
    names,
  };
}

/** Column `column` of a [N, width] tensor, as [N] (rank 1) values. */
export function tensorColumn(graph: GraphBuilder, value: string, column: number): string {
  const index = graph.constant(`col_${column}`, "INT64", [], [column]);
  return graph.op("Gather", [value, index], { axis: { int: 1 } }, { output: `col_${column}` });
}

/** The names sklearn gives X's columns when fitted on a plain array: x0, x1… */
export function defaultNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `x${i}`);
}

/**
 * The request column names an estimator was fitted on: feature_names_in_ (fitted on a
 * DataFrame) or x0… for n_features_in_ columns. undefined when the estimator records neither.
 */
export function inputNames(estimator: PyObject): string[] | undefined {
  const names = optionalAttr(estimator, "feature_names_in_");
  if (isNdArray(names)) return toValues(names).map((v) => String(v));
  const count = scalarNumber(optionalAttr(estimator, "n_features_in_"));
  return count === undefined ? undefined : defaultNames(count);
}

/** A Python bool attribute with its default when absent. */
export function flag(owner: PyObject, name: string, fallback: boolean): boolean {
  const value = optionalAttr(owner, name);
  if (value === undefined) return fallback;
  if (typeof value === "boolean") return value;
  const number = scalarNumber(value);
  if (number === undefined) {
    throw new ImportError(
      `${shortClass(owner)}: cannot read attribute "${name}" (expected a bool, found ${describe(value)})`,
    );
  }
  return number !== 0;
}

export function shortClass(owner: PyObject): string {
  return owner.className.slice(owner.className.lastIndexOf(".") + 1);
}

/** True when a value (a numpy dtype, a type reference, a string) names float32. */
export function namesFloat32(value: PyValue | undefined): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === "string") return /float32|^<?f4$/.test(value);
  if (typeof value !== "object" || Array.isArray(value)) return false;
  if (value.kind === "dtype") return value.str.endsWith("f4");
  if (value.kind === "object") return value.className.endsWith("float32");
  return false;
}
