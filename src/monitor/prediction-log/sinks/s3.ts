/**
 * Prediction log parts to S3 (or an S3-compatible server), through the artifact store: its
 * client (endpoint from MLDEPLOY_S3_ENDPOINT / AWS_ENDPOINT_URL, credentials from the SDK's
 * standard chain, the SDK's retries), its streamed upload and its one-line errors. Each part
 * goes to <prefix>/<key>, the same layout as on disk, so a download of a prefix is a log
 * directory the reader reads as it is.
 */
import { artifactStoreFor } from "../../../registry/artifacts/open.js";
import { joinArtifactUri } from "../../../registry/artifacts/uri.js";
import { UserError } from "../../../config/errors.js";
import type { LocalPart, PartTarget } from "./catch-up.js";

export class S3PartTarget implements PartTarget {
  private readonly store;

  /** `uri`: s3://bucket/prefix as parseSinkUrl returns it. */
  constructor(readonly target: string) {
    this.store = artifactStoreFor(target);
  }

  async copy(part: LocalPart): Promise<void> {
    await this.store.uploadFile(part.file, joinArtifactUri(this.target, part.key));
  }

  isPermanent(error: unknown): boolean {
    // A part too big for one PutObject (5 GiB: far beyond --log-queue-rows).
    return error instanceof UserError && /single-request S3 limit/.test(error.message);
  }

  async close(): Promise<void> {
    // The client is shared with the artifact store (closeArtifactStores at shutdown).
  }
}
