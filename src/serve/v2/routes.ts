import { predictionIds } from "../prediction-ids.js";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { JSON_TYPE } from "../context.js";
import type { DataPlane } from "../dataplane.js";
import type { ServedModel } from "../served-model.js";
import {
  BINARY_TYPE,
  encodeBinaryOutputs,
  INFERENCE_HEADER,
  splitInferenceBody,
  type InferenceBody,
} from "./binary.js";
import { parseV2Request } from "./input.js";
import { v2ResponseJson } from "./json-out.js";
import { modelMetadata, serverMetadata } from "./metadata.js";
import { modelOutputs, outputTensors } from "./tensors.js";

type ModelParams = { name: string; version?: string };

const NO_BODY: InferenceBody = { json: undefined, binary: new Uint8Array(0) };

/**
 * KServe V2 / Open Inference Protocol (REST): health, server and model metadata, inference.
 * Each request column is one named 1-D tensor; the response carries the primary output (FP64
 * numbers; a classifier's labels as BYTES or INT64) and a classifier's probabilities ([N, C]
 * FP64), those the request names in "outputs", or all of them when it names none. Tensors
 * may come and go as raw bytes after the JSON (Triton's binary tensor data extension).
 */
export function v2Routes(app: FastifyInstance, plane: DataPlane): void {
  const config = { protocol: "v2" as const };

  const checkModel = (request: FastifyRequest<{ Params: ModelParams }>): ServedModel =>
    plane.model(request.params.name, request.params.version);

  app.get("/v2/health/live", { config }, async () => ({ live: true }));
  app.get("/v2/health/ready", { config }, async (_request, reply) => {
    const ready = plane.isReady();
    reply.code(ready ? 200 : 503);
    return { ready };
  });
  app.get("/v2", { config }, async () => serverMetadata());

  for (const prefix of ["/v2/models/:name", "/v2/models/:name/versions/:version"]) {
    app.get<{ Params: ModelParams }>(prefix, { config }, async (request) => {
      return modelMetadata(checkModel(request).info);
    });
    app.get<{ Params: ModelParams }>(`${prefix}/ready`, { config }, async (request, reply) => {
      const { info } = checkModel(request);
      const ready = plane.isReady();
      reply.code(ready ? 200 : 503);
      return { name: info.name, ready };
    });
  }

  // A scope of its own: only the inference routes read bodies the binary extension's way.
  void app.register(async (scope) => {
    installInferenceBodyParser(scope);
    for (const prefix of ["/v2/models/:name", "/v2/models/:name/versions/:version"]) {
      scope.post<{ Params: ModelParams }>(`${prefix}/infer`, { config }, async (request, reply) =>
        // No body at all reads as an empty one: a 400 saying what an inference request is.
        infer(
          plane,
          checkModel(request),
          (request.body as InferenceBody | undefined) ?? NO_BODY,
          reply,
        ),
      );
    }
  });
}

/**
 * JSON, or JSON followed by raw tensor bytes: application/json and application/octet-stream
 * (what KServe's InferenceRESTClient sends with binary data), and no Content-Type at all, which
 * is what Triton's Python HTTP client sends (tritonclient/http/_client.py sets no Content-Type;
 * Triton's server reads the body whatever it is labelled). Other types stay a 415.
 */
function installInferenceBodyParser(scope: FastifyInstance): void {
  scope.addHook("onRequest", (request, _reply, done) => {
    const { headers } = request.raw;
    if (headers["content-type"] === undefined) headers["content-type"] = BINARY_TYPE;
    done();
  });
  scope.removeContentTypeParser("application/json");
  scope.addContentTypeParser(
    ["application/json", BINARY_TYPE],
    { parseAs: "buffer" },
    (request, body, done) => {
      try {
        done(null, splitInferenceBody(body as Buffer, request.headers[INFERENCE_HEADER]));
      } catch (error) {
        done(error as Error, undefined);
      }
    },
  );
}

async function infer(
  plane: DataPlane,
  served: ServedModel,
  body: InferenceBody,
  reply: FastifyReply,
): Promise<string | Buffer> {
  const { info } = served;
  const produced = modelOutputs(info);
  const parsed = parseV2Request(body.json, info.inputs, produced, plane.limits, body.binary);
  const names = parsed.outputs ?? produced;
  const probabilities = info.probabilities;
  const withProbabilities = probabilities !== undefined && names.includes(probabilities.name);
  const result = await plane.predict(
    served,
    parsed.batch,
    withProbabilities ? { probabilities: true } : undefined,
    (idField) => predictionIds([], idField, parsed.id),
  );
  const tensors = outputTensors(info, names, result);
  const parts = encodeBinaryOutputs(tensors, parsed.binaryOutputs);
  const header = v2ResponseJson(
    info,
    tensors,
    parsed.id,
    new Map([...parts].map(([name, bytes]) => [name, bytes.length])),
  );
  // As Triton's SetResponseHeader: octet-stream and the header length only when bytes follow.
  if (parts.size === 0) {
    reply.type(JSON_TYPE);
    return header;
  }
  const json = Buffer.from(header, "utf8");
  reply.type(BINARY_TYPE).header(INFERENCE_HEADER, json.length);
  return Buffer.concat([json, ...parts.values()]);
}
