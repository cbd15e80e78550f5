import { fileURLToPath } from "node:url";
import { loadPackageDefinition, type ServiceDefinition } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";

/** The vendored spec (npm run build copies it next to the compiled code). */
export const PROTO_PATH = fileURLToPath(new URL("./grpc_predict_v2.proto", import.meta.url));

/** Fully qualified name of the service, as clients and Triton's tools address it. */
export const SERVICE_NAME = "inference.GRPCInferenceService";

/** The gRPC health checking service's proto (vendored like the spec's). */
export const HEALTH_PROTO_PATH = fileURLToPath(new URL("./health.proto", import.meta.url));
export const HEALTH_SERVICE_NAME = "grpc.health.v1.Health";

let cached: ServiceDefinition | undefined;
let cachedHealth: ServiceDefinition | undefined;

/**
 * inference.GRPCInferenceService, loaded once. Field names as in the proto (snake_case, as the
 * Python and C++ clients write them); int64 as numbers (a long column takes safe integers only,
 * so a larger id is refused by validation rather than passed on rounded); bytes as Buffers;
 * unset fields filled with their defaults so handlers need no undefined checks.
 */
export function inferenceService(): ServiceDefinition {
  if (cached) return cached;
  const definition = loadSync(PROTO_PATH, {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    arrays: true,
    oneofs: true,
  });
  const loaded = loadPackageDefinition(definition) as unknown as {
    inference: { GRPCInferenceService: { service: ServiceDefinition } };
  };
  cached = loaded.inference.GRPCInferenceService.service;
  return cached;
}

/** grpc.health.v1.Health, loaded once (enums as their names: "SERVING", "NOT_SERVING"). */
export function healthService(): ServiceDefinition {
  if (cachedHealth) return cachedHealth;
  const definition = loadSync(HEALTH_PROTO_PATH, { keepCase: true, enums: String, defaults: true });
  const loaded = loadPackageDefinition(definition) as unknown as {
    grpc: { health: { v1: { Health: { service: ServiceDefinition } } } };
  };
  cachedHealth = loaded.grpc.health.v1.Health.service;
  return cachedHealth;
}
