/** Artifact stores (local directory, S3) for model directories, with checksums and a cache. */
export type { ArtifactEntry, ArtifactManifest, ArtifactStore, FileDigest } from "./types.js";
export {
  type ArtifactLocation,
  checkRelativeKey,
  formatArtifactUri,
  joinArtifactUri,
  localPathUnder,
  parseArtifactUri,
} from "./uri.js";
export { MANIFEST_FILE, parseManifest, serializeManifest } from "./manifest.js";
export { verifyLocalDirectory } from "./local-files.js";
export { LocalArtifactStore } from "./local-store.js";
export { S3ArtifactStore } from "./s3-store.js";
export { resolveS3Settings, type S3Options, type S3Settings } from "./s3-client.js";
export { artifactStoreFor, closeArtifactStores, type ArtifactStoreOptions } from "./open.js";
export { ModelCache, cacheEntryName, type ModelCacheOptions } from "./cache.js";
