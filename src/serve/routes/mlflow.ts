import type { FastifyInstance, FastifyReply } from "fastify";
import { JSON_TYPE, type ServeContext } from "../context.js";
import { batchFromMlflowCsv, batchFromMlflowJson } from "../mlflow-input.js";
import { jsonNumberList } from "../json-out.js";
import { VERSION } from "../../version.js";

/**
 * MLflow's scoring protocol (`mlflow models serve`): POST /invocations with JSON
 * (dataframe_split, dataframe_records, instances, inputs) or CSV, answering
 * `{"predictions": [...]}` — one number per row, as MLflow returns for single-output models.
 */
export function mlflowRoutes(app: FastifyInstance, ctx: ServeContext): void {
  app.post("/invocations", { config: { protocol: "mlflow" } }, async (request, reply) => {
    const body: unknown = request.body;
    const { predictor, info } = ctx.models.current;
    const schema = info.inputs;
    const batch =
      typeof body === "string"
        ? batchFromMlflowCsv(body, schema, ctx.limits)
        : batchFromMlflowJson(body, schema, ctx.limits);
    const result = await predictor.predictColumns(batch);
    ctx.metrics?.countPredictions(info.name, result.rows);
    reply.type(JSON_TYPE);
    return `{"predictions":${jsonNumberList(result.values)}}`;
  });

  // As MLflow's server: status is the answer, the body a bare newline.
  const health = async (_request: unknown, reply: FastifyReply) => {
    reply.code(ctx.isReady() ? 200 : 503).type(JSON_TYPE);
    return "\n";
  };
  app.get("/ping", { config: { protocol: "mlflow" } }, health);
  app.get("/health", { config: { protocol: "mlflow" } }, health);

  app.get("/version", { config: { protocol: "mlflow" } }, async (_request, reply) => {
    const { info } = ctx.models.current;
    reply.type(JSON_TYPE);
    return {
      mldeploy: VERSION,
      model: { name: info.name, version: info.version, uuid: info.uuid },
      // Every served model, the default (above) first.
      models: [...ctx.byName.values()].map(({ current: { info: each } }) => ({
        name: each.name,
        version: each.version,
        uuid: each.uuid,
      })),
    };
  });
}
