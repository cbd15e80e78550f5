import type { FastifyInstance } from "fastify";
import { isPlainObject } from "../../model/validate.js";
import { batchFromRecords } from "../records-input.js";
import { answerOtherMethods } from "../allowed-methods.js";
import { JSON_TYPE } from "../context.js";
import type { DataPlane } from "../dataplane.js";
import { badRequest } from "../errors.js";
import { readIntegerText } from "./integer-text.js";
import { predictionIds } from "../prediction-ids.js";
import { writerFor } from "./json-out.js";

/**
 * The original service's endpoint: one JSON object -> `{"<output>": value, "model_version": v}`;
 * a JSON list of objects -> a list of such objects, in the same order. Integer ids may be sent
 * as text where the Flask service answered them alike (integer-text.ts); other methods get
 * Flask's 405.
 */
export function originalRoutes(app: FastifyInstance, plane: DataPlane): void {
  app.post("/predict", { config: { protocol: "predict" } }, async (request, reply) => {
    const body: unknown = request.body;
    const served = plane.defaultModel();
    const schema = served.info.inputs;
    reply.type(JSON_TYPE);
    if (isPlainObject(body)) {
      const result = await plane.predict(
        served,
        batchFromRecords(readIntegerText([body], schema), schema, plane.limits, false),
        undefined,
        (idField) => predictionIds([body], idField, request.headers["x-request-id"]),
      );
      return writerFor(served.info).one(result.values[0]);
    }
    if (Array.isArray(body)) {
      const result = await plane.predict(
        served,
        batchFromRecords(readIntegerText(body, schema), schema, plane.limits, true),
        undefined,
        (idField) => predictionIds(body, idField, request.headers["x-request-id"]),
      );
      return writerFor(served.info).many(result.values);
    }
    throw badRequest(
      body === undefined
        ? "request body is required: a JSON object with the model's inputs, or a list of them"
        : `the body must be a JSON object (one row) or a list of objects, got ${body === null ? "null" : `a ${typeof body}`}`,
    );
  });
  answerOtherMethods(app, "/predict", "POST", "predict");
}
