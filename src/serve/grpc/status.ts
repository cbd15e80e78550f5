import { status as Status } from "@grpc/grpc-js";
import { classifyError } from "../errors.js";
import type { CallError } from "./wire.js";

/**
 * The gRPC status for each of serve's client errors, as KServe's ExceptionToStatusInterceptor
 * (python/kserve/kserve/protocol/grpc/interceptors.py) and Triton's GrpcStatusUtil::CodeToStatus
 * (src/grpc/grpc_utils.cc) map theirs:
 * - 400 and 422 (a malformed tensor, a value the schema refuses) → INVALID_ARGUMENT, as
 *   KServe's InvalidInput and Triton's TRITONSERVER_ERROR_INVALID_ARG;
 * - 404 (unknown model or version) → NOT_FOUND, as KServe's ModelNotFound (Triton answers
 *   INVALID_ARGUMENT "Request for unknown model", older Tritons UNAVAILABLE);
 * - 413 (more rows than maxRows) → RESOURCE_EXHAUSTED, what gRPC itself answers for a message
 *   over the size limit;
 * - 503 (overload, shutdown, a model swapped mid-request) → UNAVAILABLE, which gRPC clients
 *   retry, as KServe's ServerNotReady / ModelNotReady.
 * Anything else is a fault of the server: INTERNAL, with the details in the log only.
 */
export function grpcStatusOf(statusCode: number): Status {
  switch (statusCode) {
    case 400:
    case 405:
    case 415:
    case 422:
      return Status.INVALID_ARGUMENT;
    case 401:
      return Status.UNAUTHENTICATED;
    case 404:
      return Status.NOT_FOUND;
    case 413:
      return Status.RESOURCE_EXHAUSTED;
    case 503:
      return Status.UNAVAILABLE;
    default:
      return Status.INTERNAL;
  }
}

/** The status a handler's failure is answered with; undefined for a fault of the server. */
export function clientError(error: unknown): CallError | undefined {
  const known = classifyError(error);
  return known ? { code: grpcStatusOf(known.statusCode), details: known.message } : undefined;
}
