import type { FastifyInstance, FastifyRequest } from "fastify";
import { JSON_TYPE } from "../context.js";
import type { DataPlane } from "../dataplane.js";
import type { ServedModel } from "../served-model.js";
import { parseV2Request, v2Datatype } from "./input.js";
import { v2InferResponse } from "./json-out.js";
import { labelDatatype, modelOutputs } from "./tensors.js";
import { VERSION } from "../../version.js";

type ModelParams = { name: string; version?: string };

/**
 * KServe V2 / Open Inference Protocol (REST): health, server and model metadata, inference.
 * Each request column is one named 1-D tensor; the response carries the primary output (FP64
 * numbers; a classifier's labels as BYTES or INT64) and a classifier's probabilities ([N, C]
 * FP64), those the request names in "outputs", or all of them when it names none.
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
  app.get("/v2", { config }, async () => ({ name: "mldeploy", version: VERSION, extensions: [] }));

  const metadata = ({ info }: ServedModel) => ({
    name: info.name,
    versions: [info.version],
    platform: "onnxruntime",
    inputs: info.inputs.map((spec) => ({
      name: spec.name,
      datatype: v2Datatype[spec.type],
      shape: [-1],
    })),
    outputs: [
      { name: info.output, datatype: labelDatatype(info), shape: [-1] },
      ...(info.probabilities
        ? [
            {
              name: info.probabilities.name,
              datatype: "FP64",
              shape: [-1, info.probabilities.classes.length],
            },
          ]
        : []),
    ],
  });
  for (const prefix of ["/v2/models/:name", "/v2/models/:name/versions/:version"]) {
    app.get<{ Params: ModelParams }>(prefix, { config }, async (request) => {
      return metadata(checkModel(request));
    });
    app.get<{ Params: ModelParams }>(`${prefix}/ready`, { config }, async (request, reply) => {
      const { info } = checkModel(request);
      const ready = plane.isReady();
      reply.code(ready ? 200 : 503);
      return { name: info.name, ready };
    });
    app.post<{ Params: ModelParams }>(`${prefix}/infer`, { config }, async (request, reply) => {
      const served = checkModel(request);
      const { info } = served;
      const produced = modelOutputs(info);
      const parsed = parseV2Request(request.body, info.inputs, produced, plane.limits);
      const names = parsed.outputs ?? produced;
      const probabilities = info.probabilities;
      const withProbabilities = probabilities !== undefined && names.includes(probabilities.name);
      const result = await plane.predict(
        served,
        parsed.batch,
        withProbabilities ? { probabilities: true } : undefined,
      );
      reply.type(JSON_TYPE);
      return v2InferResponse(info, names, result, parsed.id);
    });
  }
}
