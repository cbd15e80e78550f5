import { predictionIds } from "../prediction-ids.js";
import type { Readable } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ColumnarBatch, ColumnSpec, ModelInfo } from "../../model/types.js";
import { JSON_TYPE } from "../context.js";
import type { DataPlane } from "../dataplane.js";
import { RequestError, tooLarge } from "../errors.js";
import { answerOtherMethods } from "../allowed-methods.js";
import { mlflowContentTypeProblem } from "./content-type.js";
import { batchFromMlflowCsv, batchFromMlflowJson } from "./input.js";
import { mlflowPredictions, wantsProbabilities } from "./json-out.js";
import { MLFLOW_VERSION } from "./version.js";

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
 * MLflow's scoring protocol, as `mlflow models serve` (mlflow/pyfunc/scoring_server/__init__.py,
 * MLflow 2.x) answers it: POST /invocations with JSON (dataframe_split, dataframe_records,
 * instances, inputs) or CSV → `{"predictions": [{"<output>": value, …}, …]}` (see
 * json-out.ts); GET /ping and /health; GET /version. Other methods get Werkzeug's 405.
 */
export function mlflowRoutes(app: FastifyInstance, plane: DataPlane): void {
  // A scope of its own, so that only /invocations reads text/csv (elsewhere it is a 415
  // before any of the body is read).
  void app.register(async (scope) => {
    // Before the body is read: the content types and parameters MLflow refuses, with its
    // answer (415, plain text).
    scope.addHook("onRequest", async (request, reply) => {
      if (request.method !== "POST") return;
      const problem = mlflowContentTypeProblem(request.headers["content-type"]);
      if (problem === undefined) return;
      // Logged as the error handler logs the other rejected requests.
      request.log.warn(
        { method: request.method, url: request.url, status: 415, err: problem },
        "request rejected",
      );
      return reply.code(415).type("text/plain; charset=utf-8").send(problem);
    });
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
      const result = await plane.predict(
        served,
        batch,
        { probabilities: wantsProbabilities(info) },
        (idField) => predictionIds([], idField, request.headers["x-request-id"]),
      );
      reply.type(JSON_TYPE);
      return mlflowPredictions(info, result);
    });
    answerOtherMethods(scope, "/invocations", "POST", "mlflow");
  });

  // As MLflow's server: status is the answer, the body a bare newline.
  const health = async (_request: unknown, reply: FastifyReply) => {
    reply.code(plane.isReady() ? 200 : 503).type(JSON_TYPE);
    return "\n";
  };
  for (const url of ["/ping", "/health"]) {
    app.get(url, { config: { protocol: "mlflow" } }, health);
    answerOtherMethods(app, url, "GET", "mlflow");
  }

  // MLflow's body: its version as bare text (not a JSON document), under a JSON content type;
  // ScoringServerClient.get_version() returns the text. The served models are described by
  // /v2/models/{name}.
  app.get("/version", { config: { protocol: "mlflow" } }, async (_request, reply) => {
    reply.type("application/json");
    return MLFLOW_VERSION;
  });
  answerOtherMethods(app, "/version", "GET", "mlflow");
}
