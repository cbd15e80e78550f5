import type { Readable } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ColumnarBatch, ColumnSpec, ModelInfo } from "../../model/types.js";
import { JSON_TYPE } from "../context.js";
import type { DataPlane } from "../dataplane.js";
import { RequestError, tooLarge } from "../errors.js";
import { batchFromMlflowCsv, batchFromMlflowJson } from "./input.js";
import { mlflowPredictions } from "./json-out.js";
import { VERSION } from "../../version.js";

/** A text/csv body, parsed and validated as it streamed in, with the model it was checked against. */
class CsvRequest {
  constructor(
    private readonly checkedWith: ColumnSpec[],
    private readonly batch: ColumnarBatch,
  ) {}

  /**
   * The batch, for the model serving now. Reading a large body takes a while: if the model
   * was swapped meanwhile for a version with other inputs, the rows were checked against the
   * wrong schema and the client must send them again.
   */
  batchFor(info: ModelInfo): ColumnarBatch {
    if (
      info.inputs !== this.checkedWith &&
      JSON.stringify(info.inputs) !== JSON.stringify(this.checkedWith)
    ) {
      throw new RequestError(
        503,
        "the model was replaced by a version with other inputs while the CSV body was read; send the request again",
      );
    }
    return this.batch;
  }
}

async function readCsvRequest(
  request: FastifyRequest,
  payload: Readable,
  plane: DataPlane,
): Promise<CsvRequest> {
  // Fastify checks the body limit itself only for the bodies it buffers.
  const maxBytes = request.routeOptions.bodyLimit;
  const length = Number(request.headers["content-length"]);
  if (length > maxBytes) throw tooLarge();
  const schema = plane.defaultModel().info.inputs;
  const batch = await batchFromMlflowCsv(payload, schema, {
    ...plane.limits,
    maxBytes,
    // The Content-Length of an encoded body is not the size of the CSV.
    expectedBytes:
      length > 0 && request.headers["content-encoding"] === undefined ? length : undefined,
  });
  return new CsvRequest(schema, batch);
}

/**
 * MLflow's scoring protocol (`mlflow models serve`): POST /invocations with JSON
 * (dataframe_split, dataframe_records, instances, inputs) or CSV, answering
 * `{"predictions": [...]}` — one value per row, as MLflow returns for single-output models: a
 * classifier's labels (text labels stay strings), as the sklearn flavor's `predict` gives them.
 */
export function mlflowRoutes(app: FastifyInstance, plane: DataPlane): void {
  // A scope of its own, so that only /invocations reads text/csv (elsewhere it is a 415
  // before any of the body is read).
  void app.register(async (scope) => {
    scope.addContentTypeParser("text/csv", (request: FastifyRequest, payload: Readable) =>
      readCsvRequest(request, payload, plane),
    );
    scope.post("/invocations", { config: { protocol: "mlflow" } }, async (request, reply) => {
      const body: unknown = request.body;
      const served = plane.defaultModel();
      const { info } = served;
      const batch =
        body instanceof CsvRequest
          ? body.batchFor(info)
          : batchFromMlflowJson(body, info.inputs, plane.limits);
      const result = await plane.predict(served, batch);
      reply.type(JSON_TYPE);
      return mlflowPredictions(result.values);
    });
  });

  // As MLflow's server: status is the answer, the body a bare newline.
  const health = async (_request: unknown, reply: FastifyReply) => {
    reply.code(plane.isReady() ? 200 : 503).type(JSON_TYPE);
    return "\n";
  };
  app.get("/ping", { config: { protocol: "mlflow" } }, health);
  app.get("/health", { config: { protocol: "mlflow" } }, health);

  app.get("/version", { config: { protocol: "mlflow" } }, async (_request, reply) => {
    const { info } = plane.defaultModel();
    reply.type(JSON_TYPE);
    return {
      mldeploy: VERSION,
      model: { name: info.name, version: info.version, uuid: info.uuid },
      // Every served model, the default (above) first.
      models: plane.models().map(({ info: each }) => ({
        name: each.name,
        version: each.version,
        uuid: each.uuid,
      })),
    };
  });
}
