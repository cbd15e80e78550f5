import type { ColumnSpec, ColumnType, ModelInfo } from "../model/types.js";

/** Pieces the protocols' parts of the OpenAPI document (see openapi.ts) share. */

export type JsonObject = Record<string, unknown>;

export const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
export const json = (schema: JsonObject) => ({ "application/json": { schema } });

/** What each protocol's part of the document is written from. */
export interface OpenApiContext {
  /** The default model as served now. */
  info: ModelInfo;
  /** Every served model's name. */
  names: string[];
  /** The client errors of every prediction route (and 401 with auth). */
  errors: JsonObject;
  /** 401 with auth, for the routes that take no body. */
  secured: JsonObject;
}

/** A classifier with text labels answers strings (as MLflow's sklearn flavor), others numbers. */
export const predictionSchema = (info: ModelInfo): JsonObject => ({
  type: info.outputType === "string" ? "string" : "number",
});

const JSON_TYPES: Record<ColumnType, JsonObject> = {
  long: { type: "integer", format: "int64" },
  integer: { type: "integer", format: "int32" },
  double: { type: "number", format: "double" },
  float: { type: "number", format: "float" },
  string: { type: "string" },
  boolean: { type: "boolean" },
};

/** One request row as a JSON Schema object, from the model's request schema. */
export function rowSchema(inputs: ColumnSpec[]): JsonObject {
  const properties: Record<string, JsonObject> = {};
  for (const spec of inputs) {
    properties[spec.name] = {
      ...JSON_TYPES[spec.type],
      ...(spec.minimum === undefined ? {} : { minimum: spec.minimum }),
      ...(spec.maximum === undefined ? {} : { maximum: spec.maximum }),
    };
  }
  return {
    type: "object",
    properties,
    required: inputs.filter((spec) => spec.required !== false).map((spec) => spec.name),
  };
}
