export * from "./types.js";
export { RegistryError, type RegistryErrorCode } from "../errors.js";
export { openStore, parseStoreUrl, DEFAULT_DATA_DIR } from "./open-store.js";
export type { OpenStoreOptions, StoreTarget } from "./open-store.js";
export { SqliteStore, type SqliteStoreOptions } from "./sqlite-store.js";
export { PostgresStore, describePostgres, type PostgresStoreOptions } from "./postgres-store.js";
export { MIGRATIONS, type Migration } from "./migrations.js";
export {
  LIMITS,
  validateAlias,
  validateExperimentName,
  validateKey,
  validateModelName,
} from "./names.js";
export { runArtifactUri, experimentArtifactLocation } from "./artifact-location.js";
export { HttpStore, type HttpStoreOptions } from "./http-store.js";
