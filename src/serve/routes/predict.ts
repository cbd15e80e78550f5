import type { FastifyInstance } from "fastify";
import { isPlainObject } from "../../model/validate.js";
import { batchFromRecords } from "../records-input.js";
import { JSON_TYPE, type ServeContext } from "../context.js";
import { badRequest } from "../errors.js";

/**
 * The original service's endpoint: one JSON object -> `{"<output>": value, "model_version": v}`;
 * a JSON list of objects -> a list of such objects, in the same order.
 */
export function predictRoutes(app: FastifyInstance, ctx: ServeContext): void {
  app.post("/predict", { config: { protocol: "predict" } }, async (request, reply) => {
    const body: unknown = request.body;
    const { predictor, info, writer: write } = ctx.models.current;
    const schema = info.inputs;
    reply.type(JSON_TYPE);
    if (isPlainObject(body)) {
      const result = await predictor.predictColumns(
        batchFromRecords([body], schema, ctx.limits, false),
      );
      ctx.metrics?.countPredictions(info.name, 1);
      return write.one(result.values[0]);
    }
    if (Array.isArray(body)) {
      const result = await predictor.predictColumns(
        batchFromRecords(body, schema, ctx.limits, true),
      );
      ctx.metrics?.countPredictions(info.name, result.rows);
      return write.many(result.values);
    }
    throw badRequest(
      body === undefined
        ? "request body is required: a JSON object with the model's inputs, or a list of them"
        : `the body must be a JSON object (one row) or a list of objects, got ${body === null ? "null" : `a ${typeof body}`}`,
    );
  });
}
