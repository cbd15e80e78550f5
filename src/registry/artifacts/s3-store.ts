/** Artifacts in S3 or an S3-compatible server, through @aws-sdk/client-s3. */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { Readable } from "node:stream";

import { UserError } from "../../config/errors.js";
import { RegistryError } from "../errors.js";
import { ObjectArtifactStore } from "./base-store.js";
import { s3Failure } from "./s3-errors.js";
import type { ArtifactEntry } from "./types.js";
import { formatArtifactUri, parseArtifactUri } from "./uri.js";

/** The most a single PutObject takes; larger files would need multipart upload. */
const MAX_PUT_BYTES = 5 * 1024 ** 3;

interface S3Location {
  bucket: string;
  key: string;
  uri: string;
}

export class S3ArtifactStore extends ObjectArtifactStore {
  readonly kind = "s3";

  private readonly listPageSize: number | undefined;

  /**
   * `endpoint` is the describeEndpoint() text used in error messages. `listPageSize` limits
   * keys per ListObjectsV2 page (default: the server's, 1000 on S3); tests lower it to
   * exercise pagination.
   */
  constructor(
    private readonly client: S3Client,
    private readonly endpoint: string,
    options: { concurrency?: number; listPageSize?: number } = {},
  ) {
    super(options);
    this.listPageSize = options.listPageSize;
  }

  protected async openRead(uri: string): Promise<Readable> {
    const at = this.object(uri);
    const response = await this.call("downloading", at, () =>
      this.client.send(new GetObjectCommand({ Bucket: at.bucket, Key: at.key })),
    );
    if (!(response.Body instanceof Readable)) {
      throw new Error(`S3 GetObject ${at.uri} returned no Node.js stream`);
    }
    return response.Body;
  }

  protected async writeFrom(uri: string, body: Readable, size: number): Promise<void> {
    const at = this.object(uri);
    if (size > MAX_PUT_BYTES) {
      throw new UserError(
        `cannot upload ${at.uri}: ${size} bytes is over the 5 GiB single-request S3 limit ` +
          "(multipart upload is not supported yet)",
      );
    }
    await this.call("uploading to", at, () =>
      this.client.send(
        new PutObjectCommand({ Bucket: at.bucket, Key: at.key, Body: body, ContentLength: size }),
      ),
    );
  }

  protected async readSmall(uri: string, maxBytes: number): Promise<Buffer | null> {
    const at = this.object(uri);
    let response;
    try {
      response = await this.client.send(new GetObjectCommand({ Bucket: at.bucket, Key: at.key }));
    } catch (error) {
      if (error instanceof Error && error.name === "NoSuchKey") return null;
      throw s3Failure(error, this.context("reading", at));
    }
    const tooLarge = () =>
      new RegistryError("ARTIFACT_CORRUPT", `${at.uri} is larger than ${maxBytes} bytes`);
    const body = response.Body;
    if (!(body instanceof Readable)) {
      throw new Error(`S3 GetObject ${at.uri} returned no Node.js stream`);
    }
    if ((response.ContentLength ?? 0) > maxBytes) {
      body.destroy();
      throw tooLarge();
    }
    // Counted as it arrives too: a chunked response announces no length.
    const chunks: Buffer[] = [];
    let total = 0;
    try {
      for await (const chunk of body) {
        const bytes = chunk as Buffer;
        total += bytes.length;
        if (total > maxBytes) throw tooLarge();
        chunks.push(bytes);
      }
    } catch (error) {
      body.destroy();
      if (error instanceof RegistryError) throw error;
      throw s3Failure(error, this.context("reading", at));
    }
    return Buffer.concat(chunks, total);
  }

  protected async writeSmall(uri: string, bytes: Buffer): Promise<void> {
    const at = this.object(uri);
    await this.call("uploading to", at, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: at.bucket,
          Key: at.key,
          Body: bytes,
          ContentType: "application/json",
        }),
      ),
    );
  }

  protected async remove(uri: string): Promise<void> {
    const at = this.object(uri);
    // Deleting a missing key succeeds on S3, which is what we want.
    await this.call("deleting", at, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: at.bucket, Key: at.key })),
    );
  }

  async list(prefixUri: string): Promise<ArtifactEntry[]> {
    const at = this.location(prefixUri);
    // "s3://b/models/x" lists "models/x/…", not "models/x2/…": prefixes act as directories.
    const prefix = at.key === "" ? "" : `${at.key}/`;
    const entries: ArtifactEntry[] = [];
    let token: string | undefined;
    do {
      const page = await this.call("listing", at, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: at.bucket,
            Prefix: prefix,
            ContinuationToken: token,
            MaxKeys: this.listPageSize,
          }),
        ),
      );
      for (const object of page.Contents ?? []) {
        const relative = object.Key?.slice(prefix.length) ?? "";
        // Skip "directory marker" objects (keys ending in "/") that some tools create.
        if (relative !== "" && !relative.endsWith("/")) {
          entries.push({ path: relative, size: object.Size ?? 0 });
        }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async exists(uri: string): Promise<boolean> {
    const at = this.location(uri);
    if (at.key !== "") {
      try {
        await this.client.send(new HeadObjectCommand({ Bucket: at.bucket, Key: at.key }));
        return true;
      } catch (error) {
        // HEAD answers a bare 404 for a missing key and a missing bucket alike; the listing
        // below tells those apart (NoSuchBucket) and finds "directories".
        const failure = s3Failure(error, this.context("checking", at));
        if (!(failure instanceof RegistryError && failure.code === "NOT_FOUND")) throw failure;
      }
    }
    const prefix = at.key === "" ? "" : `${at.key}/`;
    const page = await this.call("listing", at, () =>
      this.client.send(new ListObjectsV2Command({ Bucket: at.bucket, Prefix: prefix, MaxKeys: 1 })),
    );
    return (page.Contents?.length ?? 0) > 0;
  }

  private location(uri: string): S3Location {
    const location = parseArtifactUri(uri);
    if (location.kind !== "s3") {
      throw new RegistryError("INVALID_VALUE", `${uri} is not an s3:// URI (S3 artifact store)`);
    }
    return { bucket: location.bucket, key: location.key, uri: formatArtifactUri(location) };
  }

  /** A location that names an object (not just a bucket). */
  private object(uri: string): S3Location {
    const at = this.location(uri);
    if (at.key === "") {
      throw new RegistryError("INVALID_VALUE", `${uri} names a bucket, not an object`);
    }
    return at;
  }

  private context(action: string, at: S3Location) {
    return { action, uri: at.uri, bucket: at.bucket, endpoint: this.endpoint };
  }

  private async call<T>(action: string, at: S3Location, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw s3Failure(error, this.context(action, at));
    }
  }
}
