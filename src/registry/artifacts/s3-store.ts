/** Artifacts in S3 or an S3-compatible server, through @aws-sdk/client-s3. */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { mkdir, realpath, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";

import { UserError } from "../../config/errors.js";
import { RegistryError } from "../errors.js";
import { ObjectArtifactStore } from "./base-store.js";
import { mapLimit } from "./limit.js";
import {
  checkMlflowSize,
  describeChange,
  etagMd5,
  listedObject,
  listedPrefix,
  MAX_LISTED_OBJECTS,
  normalizeEtag,
  type ListedEntry,
  type ListedModel,
  type ListedObject,
} from "./listing.js";
import { writeAtomically } from "./local-files.js";
import { buildManifest, MANIFEST_FILE, serializeManifest } from "./manifest.js";
import { s3Failure } from "./s3-errors.js";
import type { ArtifactEntry, ArtifactManifest } from "./types.js";
import { formatArtifactUri, localPathUnder, parseArtifactUri } from "./uri.js";

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
    const entries = await this.listEntries(prefixUri);
    return entries.map((entry) => ({ path: entry.path, size: entry.size }));
  }

  /**
   * list() with each object's ETag and date. With `limit`, a prefix holding more objects than
   * that is refused (INVALID_VALUE) as soon as a page takes the count over it, rather than
   * listed to its end.
   */
  async listEntries(prefixUri: string, options: { limit?: number } = {}): Promise<ListedEntry[]> {
    const at = this.location(prefixUri);
    // "s3://b/models/x" lists "models/x/…", not "models/x2/…": prefixes act as directories.
    const prefix = at.key === "" ? "" : `${at.key}/`;
    const entries: ListedEntry[] = [];
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
          entries.push({
            path: relative,
            size: object.Size ?? 0,
            etag: normalizeEtag(object.ETag),
            modified: object.LastModified?.toISOString(),
          });
        }
      }
      if (options.limit !== undefined && entries.length > options.limit) {
        throw new RegistryError(
          "INVALID_VALUE",
          `${at.uri} holds more than ${options.limit} objects: that is no model directory ` +
            "(name the directory that holds the model's files)",
        );
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

  /**
   * The model at `uri` as listed, for a prefix without a manifest (see listing.ts): the objects
   * under `uri/`, or else the single object `uri` names. NOT_FOUND when there is neither.
   */
  async listModel(uri: string): Promise<ListedModel> {
    const entries = await this.listEntries(uri, { limit: MAX_LISTED_OBJECTS });
    if (entries.length > 0) return listedPrefix(uri, entries);
    const head = await this.head(uri);
    if (head === null) throw new RegistryError("NOT_FOUND", `no artifacts at ${uri}`);
    return listedObject(uri, head);
  }

  /**
   * Downloads a listed model into `localDir` and writes a manifest of what arrived there (so the
   * cache checks the copy as it checks any other). Each object must still be the one listed:
   * its GET must answer the listed size and ETag, the bytes must number exactly that size (never
   * more are written) and, where the ETag is a plain MD5, hash to it. Then the prefix is listed
   * again: an upload still under way (objects added, replaced or removed meanwhile) fails the
   * download instead of leaving a mix of old and new files. ARTIFACT_CORRUPT in every case.
   */
  async downloadListed(listing: ListedModel, localDir: string): Promise<ArtifactManifest> {
    const root = path.resolve(localDir);
    await mkdir(root, { recursive: true });
    const realRoot = await realpath(root);
    const tryAgain = "an upload still under way? try again once it has finished";
    const digests = await mapLimit(listing.objects, this.concurrency, (object) => {
      const label = `${object.uri} (listed under ${listing.uri})`;
      const changed = (what: string) =>
        new RegistryError(
          "ARTIFACT_CORRUPT",
          `${label} ${what}: the prefix changed while it was being downloaded (${tryAgain})`,
        );
      let expectedMd5: string | undefined;
      return this.download(object.uri, localPathUnder(root, object.path), undefined, {
        label,
        localRoot: { given: root, real: realRoot },
        open: async () => {
          const opened = await this.openListed(object, changed);
          expectedMd5 = opened.md5;
          return opened.body;
        },
        limit: {
          maxBytes: object.size,
          error: () => changed(`grew beyond the ${object.size} bytes listed`),
        },
        verify: (received, md5) => {
          if (received.size !== object.size) {
            throw changed(`was ${received.size} bytes instead of the ${object.size} listed`);
          }
          if (expectedMd5 !== undefined && md5 !== expectedMd5) {
            throw new RegistryError(
              "ARTIFACT_CORRUPT",
              `${label} arrived with MD5 ${md5}, but its ETag says ${expectedMd5}: corrupted on the way or in the store`,
            );
          }
        },
      });
    });
    let again: ListedModel;
    try {
      again = await this.listModel(listing.uri);
    } catch (error) {
      if (!(error instanceof RegistryError) || error.code === "UNAUTHORIZED") throw error;
      throw new RegistryError(
        "ARTIFACT_CORRUPT",
        `${listing.uri} changed while it was being downloaded (${error.message}); ${tryAgain}`,
        { cause: error },
      );
    }
    const change = describeChange(listing, again);
    if (change !== undefined) {
      throw new RegistryError(
        "ARTIFACT_CORRUPT",
        `${listing.uri} changed while it was being downloaded (${change}): ${tryAgain}`,
      );
    }
    await checkMlflowSize(root, listing);
    const manifest = buildManifest(listing.objects.map((object, i) => [object.path, digests[i]]));
    await writeAtomically(path.join(root, MANIFEST_FILE), (partial) =>
      writeFile(partial, serializeManifest(manifest), { flag: "wx" }),
    );
    return manifest;
  }

  /**
   * GETs a listed object, checking that the answer is about that object (same size, same ETag)
   * before a byte is read; gone → the listing is out of date. `md5` is what the content must
   * hash to when that can be known: a plain-MD5 ETag on an object not encrypted with SSE-KMS
   * or SSE-C (whose ETags are not the content's MD5).
   */
  private async openListed(
    object: ListedObject,
    changed: (how: string) => RegistryError,
  ): Promise<{ body: Readable; md5: string | undefined }> {
    const at = this.object(object.uri);
    let response;
    try {
      response = await this.call("downloading", at, () =>
        this.client.send(new GetObjectCommand({ Bucket: at.bucket, Key: at.key })),
      );
    } catch (error) {
      if (error instanceof RegistryError && error.code === "NOT_FOUND") {
        throw changed("was listed but is gone");
      }
      throw error;
    }
    const body = response.Body;
    if (!(body instanceof Readable)) {
      throw new Error(`S3 GetObject ${at.uri} returned no Node.js stream`);
    }
    const etag = normalizeEtag(response.ETag);
    const size = response.ContentLength;
    const stale =
      size !== undefined && size !== object.size
        ? `is now ${size} bytes, not the ${object.size} listed`
        : etag !== undefined && object.etag !== undefined && etag !== object.etag
          ? `was replaced (ETag ${etag}, listed ${object.etag})`
          : undefined;
    if (stale !== undefined) {
      body.destroy();
      throw changed(stale);
    }
    const encrypted =
      response.SSECustomerAlgorithm !== undefined ||
      (response.ServerSideEncryption ?? "").startsWith("aws:kms");
    return { body, md5: encrypted ? undefined : etagMd5(object.etag) };
  }

  /** Size, ETag and date of the object `uri` names; null when there is none. */
  private async head(
    uri: string,
  ): Promise<{ size: number; etag?: string; modified?: string } | null> {
    const at = this.location(uri);
    if (at.key === "") return null;
    try {
      const response = await this.client.send(
        new HeadObjectCommand({ Bucket: at.bucket, Key: at.key }),
      );
      return {
        size: response.ContentLength ?? 0,
        etag: normalizeEtag(response.ETag),
        modified: response.LastModified?.toISOString(),
      };
    } catch (error) {
      const failure = s3Failure(error, this.context("checking", at));
      if (failure instanceof RegistryError && failure.code === "NOT_FOUND") return null;
      throw failure;
    }
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
