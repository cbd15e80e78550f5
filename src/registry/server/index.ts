export {
  buildRegistryServer,
  registeredRoutes,
  DEFAULT_BODY_LIMIT_BYTES,
  type RegisteredRoute,
  type RegistryServerOptions,
} from "./app.js";
export {
  parseRegistryServerOptions,
  registryServerOptionsSchema,
  runRegistryServer,
  type RegistryServerSettings,
  type RegistryServerSettingsInput,
  type RunningRegistryServer,
  type RunRegistryServerInput,
} from "./run.js";
export { buildOpenApiDocument, HEALTH_PATH, OPENAPI_PATH } from "./openapi.js";
export { API_ROUTES } from "./routes.js";
export { API_PREFIX, type ErrorBody } from "../wire.js";
