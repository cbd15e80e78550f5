import { status as Status, type ServiceDefinition } from "@grpc/grpc-js";
import { RequestError } from "../errors.js";
import { predictionIds } from "../prediction-ids.js";
import { bearerChecker } from "../../config/bearer.js";
import type { Logger } from "../../log/logger.js";
import type { DataPlane } from "../dataplane.js";
import type { ServeMetrics } from "../metrics.js";
import {
  batchFromTensors,
  checkRequestedOutputs,
  modelOutputs,
  outputTensors,
} from "../v2/tensors.js";
import type { ModelInferRequest, ModelInferResponse, ModelRequest } from "./messages.js";
import { modelMetadata, serverMetadata } from "../v2/metadata.js";
import { HEALTH_SERVICE_NAME, healthService, inferenceService, SERVICE_NAME } from "./proto.js";
import { clientError } from "./status.js";
import type { CallError } from "./wire.js";
import { inputTensors, outputMessages } from "./tensors.js";
import { decodeModelInferRequest, encodeModelInferResponse } from "./infer-codec.js";

/** How many calls this process handles at once (shared with HTTP: see overload.ts). */
export interface CallLimit {
  /** Takes a place for a prediction; false when the process is at maxConcurrentRequests. */
  tryEnter(): boolean;
  leave(): void;
  readonly maxInFlight: number;
}

export interface GrpcServiceOptions {
  plane: DataPlane;
  logger: Logger;
  metrics: ServeMetrics | undefined;
  limit: CallLimit;
  /** Require `authorization: Bearer <token>` metadata (serve's --auth-token). */
  authToken?: string;
}

/**
 * Methods callable without a token: the liveness and readiness probes, as /v2/health/live and
 * /v2/health/ready over HTTP (serve/auth.ts OPEN_ROUTES), and the standard health check that
 * Kubernetes gRPC probes call (they send no metadata).
 */
const OPEN_ROUTES: ReadonlySet<string> = new Set([
  `/${SERVICE_NAME}/ServerLive`,
  `/${SERVICE_NAME}/ServerReady`,
  `/${HEALTH_SERVICE_NAME}/Check`,
]);

/** The services a health check may name: the server as a whole (""), or the inference one. */
const HEALTH_CHECKED: ReadonlySet<string> = new Set(["", SERVICE_NAME]);

type Handler<Request, Response> = (request: Request) => Promise<Response> | Response;

/**
 * A method's own codec, tried before the generic one of proto-loader; undefined from either
 * side means "not this one" and the generic path is taken (infer-codec.ts).
 */
interface FastCodec<Request, Response> {
  decode(bytes: Buffer): Request | undefined;
  encode(response: Response): Buffer | undefined;
}

/** How a call ended: the serialised answer, or a status other than OK. */
export type CallOutcome = { code: Status.OK; message: Buffer } | CallError;

/**
 * One unary method of the service: the request's bytes and the `authorization` metadata in,
 * the outcome out. It never throws: every failure is a status.
 */
export type UnaryMethod = (
  request: Buffer,
  authorization: string | undefined,
) => Promise<CallOutcome>;

/**
 * inference.GRPCInferenceService over the data plane: the same models, versions, checks and
 * answers as the REST routes (src/serve/v2/routes.ts), in the messages of grpc_predict_v2.proto.
 * Keyed by the full method path (/inference.GRPCInferenceService/ModelInfer) the HTTP/2
 * request names.
 */
export function grpcInferenceService(options: GrpcServiceOptions): Map<string, UnaryMethod> {
  const { plane, logger, metrics, limit } = options;
  const check = options.authToken === undefined ? undefined : bearerChecker(options.authToken);
  const definitions = inferenceService();

  /**
   * One unary method: the token, the overload limit (predictions only), the request's decoding
   * (bytes that are not the method's message are the client's mistake: INVALID_ARGUMENT, where
   * grpc-js would answer INTERNAL), the handler, the status it ends with (client mistakes
   * mapped as KServe and Triton do, never INTERNAL), the request metrics.
   */
  const unary = <Request, Response>(
    method: string,
    handler: Handler<Request, Response>,
    counted = false,
    fast?: FastCodec<Request, Response>,
    service: { name: string; definitions: ServiceDefinition } = {
      name: SERVICE_NAME,
      definitions,
    },
  ): [string, UnaryMethod] => {
    const route = `/${service.name}/${method}`;
    const { requestDeserialize, responseSerialize } = service.definitions[method];
    const call: UnaryMethod = async (bytes, authorization) => {
      const started = performance.now();
      let entered = false;
      const finish = (code: Status) => {
        if (entered) limit.leave();
        metrics?.observeRequest("GRPC", route, Status[code], (performance.now() - started) / 1000);
      };
      const refuse = (code: Status, details: string): CallError => {
        logger.warn({ method: route, status: Status[code], err: details }, "request rejected");
        finish(code);
        return { code, details };
      };
      if (check && !OPEN_ROUTES.has(route)) {
        const result = check(authorization);
        if (result !== "ok")
          return refuse(
            Status.UNAUTHENTICATED,
            result === "missing"
              ? "this server requires a token: send the metadata authorization: Bearer <token>"
              : "the bearer token was refused",
          );
      }
      if (counted) {
        if (!limit.tryEnter()) {
          metrics?.countRejected("overload");
          return refuse(
            Status.UNAVAILABLE,
            `the server is handling its maximum of ${limit.maxInFlight} requests at once (maxConcurrentRequests); retry later`,
          );
        }
        entered = true;
      }
      let request: Request;
      try {
        request = fast?.decode(bytes) ?? (requestDeserialize(bytes) as Request);
      } catch (error) {
        return refuse(
          Status.INVALID_ARGUMENT,
          `the request is not a protobuf ${method}Request of ${service.name}: ${(error as Error).message}`,
        );
      }
      try {
        const response = await handler(request);
        const message = fast?.encode(response) ?? responseSerialize(response);
        finish(Status.OK);
        return { code: Status.OK, message };
      } catch (error) {
        const known = clientError(error);
        if (known) return refuse(known.code, known.details);
        logger.error({ method: route, err: error }, "request failed");
        finish(Status.INTERNAL);
        return {
          code: Status.INTERNAL,
          details: "internal error while predicting; see the server log",
        };
      }
    };
    return [route, call];
  };

  const served = (request: ModelRequest) => plane.model(request.name, request.version || undefined);

  return new Map([
    // grpc/grpc doc/health-checking.md: SERVING or NOT_SERVING for the server ("") and its
    // services, NOT_FOUND for a service it does not have. Ready means as ServerReady. Watch
    // (a server stream) is not served: this service is unary only (UNIMPLEMENTED).
    unary(
      "Check",
      (request: { service: string }) => {
        if (!HEALTH_CHECKED.has(request.service))
          throw new RequestError(404, `unknown service "${request.service}"`);
        return { status: plane.isReady() ? "SERVING" : "NOT_SERVING" };
      },
      false,
      undefined,
      { name: HEALTH_SERVICE_NAME, definitions: healthService() },
    ),
    unary("ServerLive", () => ({ live: true })),
    unary("ServerReady", () => ({ ready: plane.isReady() })),
    // The same answer as GET /v2 (Triton lists its extensions alike over both protocols).
    unary("ServerMetadata", () => serverMetadata()),
    unary("ModelReady", (request: ModelRequest) => {
      served(request);
      return { ready: plane.isReady() };
    }),
    unary("ModelMetadata", (request: ModelRequest) => modelMetadata(served(request).info)),
    unary(
      "ModelInfer",
      async (request: ModelInferRequest): Promise<ModelInferResponse> => {
        const model = plane.model(request.model_name, request.model_version || undefined);
        const { info } = model;
        const produced = modelOutputs(info);
        const requested = checkRequestedOutputs(request.outputs, produced).map((each) => each.name);
        // No outputs named: all of them (the spec's "Optional, if not specified all outputs").
        const names = requested.length > 0 ? requested : produced;
        const batch = batchFromTensors(inputTensors(request), info.inputs, plane.limits);
        const probabilities = info.probabilities;
        const withProbabilities = probabilities !== undefined && names.includes(probabilities.name);
        const result = await plane.predict(
          model,
          batch,
          withProbabilities ? { probabilities: true } : undefined,
          (idField) => predictionIds([], idField, request.id),
        );
        const raw = request.raw_input_contents.length > 0;
        return {
          model_name: info.name,
          model_version: info.version,
          id: request.id,
          ...outputMessages(outputTensors(info, names, result), raw),
        };
      },
      true,
      { decode: decodeModelInferRequest, encode: encodeModelInferResponse },
    ),
  ]);
}
