/**
 * A model version's signature (ModelVersion.signature: MLflow signature JSON) as short text:
 * "trip_distance: double, PU_DO: string → duration: float". Both shapes MLflow writes are read:
 * `inputs` as a list of specs (mldeploy's bundles) or as JSON text of that list (MLmodel's own
 * `signature:` section); a spec is a column (`{name, type}`) or a tensor
 * (`{type: "tensor", "tensor-spec": {dtype, shape}}`).
 */

export interface SignatureSummary {
  inputs: string[];
  outputs: string[];
}

function specList(side: unknown): unknown[] {
  if (typeof side === "string") {
    try {
      return specList(JSON.parse(side) as unknown);
    } catch {
      return [];
    }
  }
  return Array.isArray(side) ? side : [];
}

function describeSpec(spec: unknown): string {
  if (typeof spec !== "object" || spec === null) return String(spec);
  const { name, type, required } = spec as { name?: unknown; type?: unknown; required?: unknown };
  let kind = typeof type === "string" ? type : "?";
  if (type === "tensor") {
    const tensor = (spec as { "tensor-spec"?: { dtype?: unknown; shape?: unknown } })[
      "tensor-spec"
    ];
    const shape = Array.isArray(tensor?.shape) ? ` [${tensor.shape.join(", ")}]` : "";
    kind = `tensor ${typeof tensor?.dtype === "string" ? tensor.dtype : "?"}${shape}`;
  }
  const optional = required === false ? " (optional)" : "";
  return typeof name === "string" && name !== "" ? `${name}: ${kind}${optional}` : kind + optional;
}

/** null when there is no signature or it is not a JSON object. */
export function summarizeSignature(text: string | null): SignatureSummary | null {
  if (text === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof parsed !== "object" || parsed === null) return null;
  const { inputs, outputs } = parsed as { inputs?: unknown; outputs?: unknown };
  return {
    inputs: specList(inputs).map(describeSpec),
    outputs: specList(outputs).map(describeSpec),
  };
}

/** At most `max` items, then "+N more", so that a 300-column model keeps its row readable. */
export function shortList(items: string[], max = 6): string {
  if (items.length === 0) return "(none)";
  if (items.length <= max) return items.join(", ");
  return `${items.slice(0, max).join(", ")}, +${items.length - max} more`;
}
