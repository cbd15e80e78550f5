import { saveBundle, type SavedBundle } from "../model/bundle.js";
import { decodeForRewrite, encodeRewritten } from "../model/onnx-proto.js";
import { referencedColumns } from "../model/transform.js";
import type { ColumnSpec, FeatureExpr, MldeploySection } from "../model/types.js";
import type { ImportProvenance } from "./convert.js";
import { compileFeature, type FeatureDeclaration } from "./feature-expr.js";
import { ImportError, type ConvertedModel } from "./types.js";

/**
 * An imported model as an ordinary mldeploy bundle: the converted graph, the MLflow signature
 * of its own inputs and outputs, and an `mldeploy` section with the request schema, the
 * feature map (the --feature declarations) and the output, exactly as a bundle trained by
 * mldeploy has them, so serve, batch, stream, info and predict load it unchanged. The section
 * also records where the model came from (source file hash, estimator, the check).
 */

export interface PlanOptions {
  /** --feature declarations. */
  features: readonly FeatureDeclaration[];
  /** The answer's name (/predict's key); default `defaultOutput`, else "prediction". */
  output?: string;
  /** e.g. the MLflow signature's output name. */
  defaultOutput?: string;
  /**
   * The request's columns, when known (--input, the MLflow signature, the --check data): a
   * model input that is neither one of them nor declared is an error naming it.
   */
  requestColumns?: readonly ColumnSpec[];
}

export interface BundlePlan {
  onnx: Uint8Array;
  signature: { inputs: ColumnSpec[]; outputs: ColumnSpec[] };
  mldeploy: MldeploySection;
}

export const DEFAULT_OUTPUT = "prediction";

/** The request schema, feature map and output for a converted model; errors name the option. */
export function planBundle(converted: ConvertedModel, options: PlanOptions): BundlePlan {
  const graphInputs = new Map(converted.inputs.map((input) => [input.name, input]));
  const known = options.requestColumns
    ? new Map(options.requestColumns.map((column) => [column.name, column]))
    : undefined;
  const stringColumns = new Set(
    converted.inputs.filter((input) => input.type === "string").map((input) => input.name),
  );
  const declared = new Map(options.features.map((d) => [d.name, d]));
  for (const declaration of options.features) {
    if (!graphInputs.has(declaration.name)) {
      throw new ImportError(
        `--feature '${declaration.text}': the model has no input "${declaration.name}"; its inputs are ${describe(converted.inputs)}`,
      );
    }
  }

  const features: Record<string, FeatureExpr> = {};
  const request = new Map<string, ColumnSpec>();
  for (const input of converted.inputs) {
    const declaration = declared.get(input.name);
    if (declaration) {
      features[input.name] = compileFeature(declaration, { target: input.type, stringColumns });
      continue;
    }
    features[input.name] = { column: input.name };
    if (known && !known.has(input.name)) throw missingInput(input, known);
    // The graph's own type: the request column goes into the graph as it is.
    request.set(input.name, requestColumn(input));
  }
  // Columns the declarations read: typed as the request says when it is known, as the model
  // takes them when they are model inputs too, else as numbers. A JSON number is what the
  // original services were sent (PULocationID 130), and numbers join as Python prints them.
  for (const name of referencedColumns(features)) {
    if (request.has(name)) continue;
    const graphInput = graphInputs.get(name);
    const spec = graphInput ? requestColumn(graphInput) : known?.get(name);
    if (known && !spec) {
      throw new ImportError(
        `--feature: column "${name}" is not one of the request's columns (${[...known.keys()].join(", ")})`,
      );
    }
    request.set(name, spec ?? { name, type: "double" });
  }

  const output = options.output ?? options.defaultOutput ?? DEFAULT_OUTPUT;
  const { onnx, outputs } = renameOutput(converted, output);
  return {
    onnx,
    signature: { inputs: converted.inputs, outputs },
    mldeploy: { format_version: 1, inputs: [...request.values()], features, output },
  };
}

function requestColumn(input: ColumnSpec): ColumnSpec {
  return { name: input.name, type: input.type };
}

function describe(columns: readonly ColumnSpec[]): string {
  return columns.map((c) => `${c.name} (${c.type})`).join(", ");
}

function missingInput(input: ColumnSpec, known: Map<string, ColumnSpec>): ImportError {
  const columns = [...known.keys()];
  const example =
    input.type === "string" && columns.length >= 2
      ? `${columns[0]} + "_" + ${columns[1]}`
      : (columns[0] ?? "<expression>");
  return new ImportError(
    `the model needs input "${input.name}" (${input.type}), which is neither a request column (${columns.join(", ")}) ` +
      `nor declared: add --feature '${input.name}=${example}' (or whatever built it in your Python code)`,
  );
}

/**
 * The converter names its prediction output itself; callers get it under `output` (the key of
 * /predict's answer, e.g. "duration"), so the graph's output is renamed.
 */
function renameOutput(
  converted: ConvertedModel,
  output: string,
): { onnx: Uint8Array; outputs: ColumnSpec[] } {
  const [first, ...rest] = converted.outputs;
  if (!first) throw new ImportError("the converted model has no output");
  if (first.name === output) return { onnx: converted.onnx, outputs: converted.outputs };
  const taken = [...converted.inputs.map((i) => i.name), ...rest.map((o) => o.name)];
  if (taken.includes(output)) {
    throw new ImportError(
      `--output "${output}" is already the name of a model input or output; choose another`,
    );
  }
  const model = decodeForRewrite(converted.onnx);
  const graph = model?.graph;
  if (!graph) {
    throw new ImportError(
      `the converted graph cannot be rewritten to name its output "${output}"; use --output ${first.name}`,
    );
  }
  const used = new Set<string>([
    ...graph.input.map((v) => v.name),
    ...graph.initializer.map((t) => t.name),
    ...graph.node.flatMap((n) => [...n.input, ...n.output]),
  ]);
  if (used.has(output)) {
    throw new ImportError(
      `--output "${output}" is the name of a value inside the converted graph; choose another`,
    );
  }
  const rename = (name: string) => (name === first.name ? output : name);
  for (const node of graph.node) {
    node.input = node.input.map(rename);
    node.output = node.output.map(rename);
  }
  for (const value of [...graph.output, ...graph.value_info]) value.name = rename(value.name);
  return {
    onnx: encodeRewritten(model),
    outputs: [{ ...first, name: output }, ...rest],
  };
}

/** A request example: the given rows, else one row of neutral values (numbers 1, texts ""). */
export function exampleRows(
  plan: BundlePlan,
  rows?: ReadonlyArray<Record<string, unknown>>,
): Record<string, unknown>[] {
  const columns = plan.mldeploy.inputs;
  if (rows?.length) {
    return rows
      .slice(0, 3)
      .map((row) => Object.fromEntries(columns.map((c) => [c.name, row[c.name]])));
  }
  return [
    Object.fromEntries(
      columns.map((c) => [c.name, c.type === "string" ? "" : c.type === "boolean" ? false : 1]),
    ),
  ];
}

/** Writes the bundle directory (MLflow layout) with the provenance in its `mldeploy` section. */
export async function writeImportedBundle(
  dir: string,
  plan: BundlePlan,
  provenance: ImportProvenance & {
    check?: Record<string, unknown>;
    declaredFeatures?: readonly string[];
  },
  example?: ReadonlyArray<Record<string, unknown>>,
): Promise<SavedBundle> {
  const mldeploy: MldeploySection = {
    ...plan.mldeploy,
    source: provenance.source,
    importer: provenance.importer,
    ...(provenance.declaredFeatures?.length
      ? { declared_features: [...provenance.declaredFeatures] }
      : {}),
    ...(provenance.check ? { check: provenance.check } : {}),
  };
  return saveBundle(dir, {
    onnx: plan.onnx,
    signature: plan.signature,
    mldeploy,
    inputExample: exampleRows(plan, example),
  });
}
