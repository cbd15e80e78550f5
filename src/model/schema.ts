import { z } from "zod";
import { pythonJson } from "./mlflow-files.js";
import type { ColumnSpec, ColumnType, FeatureExpr, MldeploySection } from "./types.js";

const columnTypes = [
  "long",
  "integer",
  "double",
  "float",
  "string",
  "boolean",
] as const satisfies readonly ColumnType[];

export const columnSpecSchema = z
  .object({
    name: z.string().min(1),
    type: z.enum(columnTypes),
    required: z.boolean().optional(),
    minimum: z.number().optional(),
    maximum: z.number().optional(),
  })
  .strip();

const columnRefSchema = z.object({ column: z.string().min(1) }).strict();

export const featureExprSchema: z.ZodType<FeatureExpr> = z.union([
  columnRefSchema,
  z.object({ concat: z.array(z.union([z.string(), columnRefSchema])).min(1) }).strict(),
  z.object({ sum: z.array(z.union([z.number(), columnRefSchema])).min(1) }).strict(),
]);

export const mldeploySectionSchema = z.object({
  format_version: z.literal(1),
  inputs: z.array(columnSpecSchema).min(1),
  features: z.record(z.string(), featureExprSchema).optional(),
  output: z.string().min(1),
  input_example: z.array(z.record(z.string(), z.unknown())).optional(),
  training: z.record(z.string(), z.unknown()).optional(),
  // Classes of one kind (all text or all numbers), each once: they name probability columns.
  classes: z
    .union([z.array(z.string()).min(1), z.array(z.number().finite()).min(1)])
    .refine((classes) => new Set<string | number>(classes).size === classes.length, {
      message: "each class must be listed once",
    })
    .optional(),
  probabilities: z.string().min(1).optional(),
  source: z
    .object({
      file: z.string(),
      sha256: z.string(),
      format: z.string(),
      bytes: z.number().optional(),
      uri: z.string().optional(),
    })
    .optional(),
  importer: z
    .object({
      estimator: z.string(),
      kind: z.string().optional(),
      library: z.object({ name: z.string(), version: z.string().optional() }).optional(),
      mldeploy: z.string(),
    })
    .optional(),
  check: z.record(z.string(), z.unknown()).optional(),
  declared_features: z.array(z.string()).optional(),
}) satisfies z.ZodType<MldeploySection>;

/** MLflow tensor spec entries (`{"type":"tensor","tensor-spec":{dtype,shape}}`) mapped onto column types. */
const tensorDtypeToColumn: Record<string, ColumnType> = {
  float64: "double",
  float32: "float",
  int64: "long",
  int32: "integer",
  bool: "boolean",
  str: "string",
  object: "string",
};

const tensorSpecEntry = z.object({
  type: z.literal("tensor"),
  name: z.string().min(1),
  "tensor-spec": z.object({ dtype: z.string(), shape: z.array(z.number()) }),
});

/**
 * Parses one side of an MLflow signature. MLflow stores it as a JSON string inside the YAML;
 * tolerate an already-parsed list too. Throws with a message naming the entry and field.
 */
export function parseSignatureSide(raw: unknown, side: "inputs" | "outputs"): ColumnSpec[] {
  let value: unknown = raw;
  if (typeof raw === "string") {
    try {
      value = JSON.parse(raw);
    } catch {
      throw new Error(`signature.${side} is not valid JSON`);
    }
  }
  if (!Array.isArray(value)) throw new Error(`signature.${side} must be a list of column specs`);
  // MLflow infers an output signature from the predictions, and a numpy array or a Series gives
  // unnamed entries: nothing to check the graph against, so the graph's first output is used.
  if (side === "outputs") value = value.filter((entry: unknown) => hasName(entry));
  return (value as unknown[]).map((entry: unknown, index): ColumnSpec => {
    const isTensor =
      typeof entry === "object" &&
      entry !== null &&
      (entry as { type?: unknown }).type === "tensor";
    if (isTensor) {
      const parsed = tensorSpecEntry.safeParse(entry);
      if (!parsed.success)
        throw new Error(`signature.${side}.${index}: ${formatZodIssues(parsed.error)}`);
      const type = tensorDtypeToColumn[parsed.data["tensor-spec"].dtype];
      if (!type) {
        throw new Error(
          `signature.${side}: tensor "${parsed.data.name}" has unsupported dtype ${parsed.data["tensor-spec"].dtype}`,
        );
      }
      return { name: parsed.data.name, type };
    }
    const parsed = columnSpecSchema.safeParse(entry);
    if (!parsed.success)
      throw new Error(`signature.${side}.${index}.${formatZodIssues(parsed.error)}`);
    return parsed.data;
  });
}

function hasName(entry: unknown): boolean {
  const name = typeof entry === "object" && entry !== null ? Reflect.get(entry, "name") : undefined;
  return typeof name === "string" && name !== "";
}

/** Renders zod issues as `path: message; …` so errors name the offending field. */
export function formatZodIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length ? issue.path.join(".") : "(root)"}: ${issue.message}`)
    .join("; ");
}

/**
 * Serialises column specs the way MLflow writes them: `Schema.to_json()`, json.dumps of each
 * ColSpec.to_dict() (type, name, required explicit).
 */
export function formatSignatureSide(specs: ColumnSpec[]): string {
  return pythonJson(
    specs.map((s) => ({ type: s.type, name: s.name, required: s.required ?? true })),
  );
}
