import { predictionIds } from "../prediction-ids.js";
import {
  status as Status,
  type sendUnaryData,
  type ServerUnaryCall,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
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
import { MalformedMessage, SERVICE_NAME } from "./proto.js";
import { clientError, grpcError } from "./status.js";
import { inputTensors, outputMessages } from "./tensors.js";

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
 * /v2/health/ready over HTTP (serve/auth.ts OPEN_ROUTES).
 */
const OPEN_METHODS: ReadonlySet<string> = new Set(["ServerLive", "ServerReady"]);

type Handler<Request, Response> = (request: Request) => Promise<Response> | Response;

/**
 * inference.GRPCInferenceService over the data plane: the same models, versions, checks and
 * answers as the REST routes (src/serve/v2/routes.ts), in the messages of grpc_predict_v2.proto.
 */
export function grpcInferenceService(options: GrpcServiceOptions): UntypedServiceImplementation {
  const { plane, logger, metrics, limit } = options;
  const check = options.authToken === undefined ? undefined : bearerChecker(options.authToken);

  /**
   * One unary method: the token, the overload limit (predictions only), the handler, the
   * status it ends with (client mistakes mapped as KServe and Triton do, never INTERNAL), the
   * request metrics.
   */
  const unary = <Request, Response>(
    method: string,
    handler: Handler<Request, Response>,
    counted = false,
  ) => {
    const route = `/${SERVICE_NAME}/${method}`;
    return (call: ServerUnaryCall<Request, Response>, callback: sendUnaryData<Response>) => {
      const started = performance.now();
      let entered = false;
      const finish = (code: Status) => {
        if (entered) limit.leave();
        metrics?.observeRequest("GRPC", route, Status[code], (performance.now() - started) / 1000);
      };
      const refuse = (code: Status, message: string) => {
        logger.warn({ method: route, status: Status[code], err: message }, "request rejected");
        finish(code);
        callback(grpcError(code, message));
      };
      if (check && !OPEN_METHODS.has(method)) {
        const header = call.metadata.get("authorization")[0];
        const result = check(typeof header === "string" ? header : undefined);
        if (result !== "ok") {
          refuse(
            Status.UNAUTHENTICATED,
            result === "missing"
              ? "this server requires a token: send the metadata authorization: Bearer <token>"
              : "the bearer token was refused",
          );
          return;
        }
      }
      if (counted) {
        if (!limit.tryEnter()) {
          metrics?.countRejected("overload");
          refuse(
            Status.UNAVAILABLE,
            `the server is handling its maximum of ${limit.maxInFlight} requests at once (maxConcurrentRequests); retry later`,
          );
          return;
        }
        entered = true;
      }
      const { request } = call;
      if (request instanceof MalformedMessage) {
        refuse(
          Status.INVALID_ARGUMENT,
          `the request is not a protobuf ${method}Request of ${SERVICE_NAME}: ${request.reason}`,
        );
        return;
      }
      Promise.resolve()
        .then(() => handler(request))
        .then(
          (response) => {
            finish(Status.OK);
            callback(null, response);
          },
          (error: unknown) => {
            const known = clientError(error);
            if (known) {
              refuse(known.code as Status, known.details ?? "");
              return;
            }
            logger.error({ method: route, err: error }, "request failed");
            finish(Status.INTERNAL);
            callback(
              grpcError(Status.INTERNAL, "internal error while predicting; see the server log"),
            );
          },
        );
    };
  };

  const served = (request: ModelRequest) => plane.model(request.name, request.version || undefined);

  return {
    ServerLive: unary("ServerLive", () => ({ live: true })),
    ServerReady: unary("ServerReady", () => ({ ready: plane.isReady() })),
    // The same answer as GET /v2 (Triton lists its extensions alike over both protocols).
    ServerMetadata: unary("ServerMetadata", () => serverMetadata()),
    ModelReady: unary("ModelReady", (request: ModelRequest) => {
      served(request);
      return { ready: plane.isReady() };
    }),
    ModelMetadata: unary("ModelMetadata", (request: ModelRequest) =>
      modelMetadata(served(request).info),
    ),
    ModelInfer: unary(
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
          () => predictionIds([], request.id),
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
    ),
  };
}
