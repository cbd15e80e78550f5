/** Picks the store for a location; S3 clients are shared so connections are reused. */
import type { S3Client } from "@aws-sdk/client-s3";

import { LocalArtifactStore } from "./local-store.js";
import {
  createS3Client,
  describeEndpoint,
  resolveS3Settings,
  type S3Options,
} from "./s3-client.js";
import { S3ArtifactStore } from "./s3-store.js";
import type { ArtifactStore } from "./types.js";
import { parseArtifactUri } from "./uri.js";

export interface ArtifactStoreOptions extends S3Options {
  /** Files transferred at once by uploadDirectory/downloadDirectory. Default 4. */
  concurrency?: number;
}

/** One client per distinct settings (endpoint, region …): each holds a keep-alive pool. */
const clients = new Map<string, S3Client>();

/** The store for `uri`: local for paths and file:// URIs, S3 for s3:// URIs. */
export function artifactStoreFor(uri: string, options: ArtifactStoreOptions = {}): ArtifactStore {
  const location = parseArtifactUri(uri);
  const storeOptions = { concurrency: options.concurrency };
  if (location.kind === "local") return new LocalArtifactStore(storeOptions);
  const settings = resolveS3Settings(options);
  const key = JSON.stringify(settings);
  let client = clients.get(key);
  if (client === undefined) {
    client = createS3Client(settings);
    clients.set(key, client);
  }
  return new S3ArtifactStore(client, describeEndpoint(settings), storeOptions);
}

/** Closes the shared S3 clients' sockets (at shutdown, or between tests). */
export function closeArtifactStores(): void {
  for (const client of clients.values()) client.destroy();
  clients.clear();
}
