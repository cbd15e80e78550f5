import type { FastifyInstance, FastifyRequest } from "fastify";
import { JSON_TYPE, type ServeContext } from "../context.js";
import { RequestError } from "../errors.js";
import { jsonNumberList, jsonPredictionList } from "../json-out.js";
import type { ModelInfo } from "../../model/types.js";
import type { ServedModel } from "../served-model.js";
import { parseV2Request, v2Datatype } from "../v2-input.js";
import { VERSION } from "../../version.js";

type ModelParams = { name: string; version?: string };

/**
 * KServe V2 / Open Inference Protocol (REST): health, server and model metadata, inference.
 * Each request column is one named 1-D tensor; the response carries the primary output (FP64
 * numbers; a classifier's labels as BYTES or INT64) and a classifier's probabilities ([N, C]
 * FP64), those the request names in "outputs", or all of them when it names none.
 */
export function v2Routes(app: FastifyInstance, ctx: ServeContext): void {
  const config = { protocol: "v2" as const };

  /**
   * The served model the URL names, or 404 (also for another version than the one served).
   * The name stays while versions come and go with the registry alias.
   */
  const checkModel = (request: FastifyRequest<{ Params: ModelParams }>): ServedModel => {
    const { name, version } = request.params;
    const slot = ctx.byName.get(name);
    if (slot === undefined) {
      const served = [...ctx.byName.keys()].map((each) => `"${each}"`).join(", ");
      throw new RequestError(
        404,
        `model "${name}" is not served here (this server serves ${served})`,
      );
    }
    const served = slot.current;
    const { info } = served;
    if (version !== undefined && version !== info.version) {
      throw new RequestError(
        404,
        `model "${name}" has no version "${version}" here (serving version "${info.version}")`,
      );
    }
    return served;
  };

  app.get("/v2/health/live", { config }, async () => ({ live: true }));
  app.get("/v2/health/ready", { config }, async (_request, reply) => {
    const ready = ctx.isReady();
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
      const ready = ctx.isReady();
      reply.code(ready ? 200 : 503);
      return { name: info.name, ready };
    });
    app.post<{ Params: ModelParams }>(`${prefix}/infer`, { config }, async (request, reply) => {
      const { info, predictor } = checkModel(request);
      const produced = modelOutputs(info);
      const parsed = parseV2Request(request.body, info.inputs, produced, ctx.limits);
      const names = parsed.outputs ?? produced;
      const probabilities = info.probabilities;
      const withProbabilities = probabilities !== undefined && names.includes(probabilities.name);
      const result = await predictor.predictColumns(
        parsed.batch,
        withProbabilities ? { probabilities: true } : undefined,
      );
      ctx.metrics?.countPredictions(info.name, result.rows);
      const tensors = names.map((name) =>
        name === info.output
          ? `{"name":${JSON.stringify(name)},"datatype":"${labelDatatype(info)}","shape":[${result.rows}],"data":${jsonPredictionList(result.values)}}`
          : `{"name":${JSON.stringify(name)},"datatype":"FP64","shape":[${result.rows},${probabilities!.classes.length}],"data":${jsonNumberList(result.probabilities!)}}`,
      );
      reply.type(JSON_TYPE);
      return (
        `{"model_name":${JSON.stringify(info.name)},"model_version":${JSON.stringify(info.version)}` +
        (parsed.id !== undefined ? `,"id":${JSON.stringify(parsed.id)}` : "") +
        `,"outputs":[${tensors.join(",")}]}`
      );
    });
  }
}

/** The model's outputs, the primary one first. */
function modelOutputs(info: ModelInfo): string[] {
  return info.probabilities ? [info.output, info.probabilities.name] : [info.output];
}

/** The primary output's tensor datatype: FP64 numbers, a classifier's BYTES or INT64 labels. */
function labelDatatype(info: ModelInfo): string {
  return info.outputType === "string" ? "BYTES" : info.outputType === "long" ? "INT64" : "FP64";
}
