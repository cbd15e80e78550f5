import {
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { expect } from "vitest";

import { parseArtifactUri } from "../../../src/registry/artifacts/index.js";
import { S3RVER_CREDENTIALS } from "../../helpers/s3-server.js";
import { tempDir } from "../../helpers/temp.js";

/**
 * Credentials for s3rver, set in the environment so the SDK's standard chain picks them up,
 * as it would in production. Each test file runs in its own process.
 */
export function useS3rverCredentials(): void {
  Object.assign(process.env, S3RVER_CREDENTIALS, {
    // The SDK warns once on Node < 22; that is about the runtime, not these tests.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  });
}

/**
 * A model-like directory: nested files, an empty file, odd names and a binary `model.onnx`
 * (~5 MB by default; tests that do not need a big file ask for less to stay fast).
 */
export function makeModelDir(modelBytes = 5 * 1024 * 1024 + 123): {
  dir: string;
  files: Record<string, Buffer>;
} {
  const dir = tempDir("mldeploy-model-");
  const files: Record<string, Buffer> = {
    MLmodel: Buffer.from("flavors:\n  onnx:\n    data: model.onnx\n"),
    "model.onnx": randomBytes(modelBytes),
    "sub/deeper/notes.txt": Buffer.from("nested\n"),
    "sub/empty.bin": Buffer.alloc(0),
    "with space ü.txt": Buffer.from("odd name\n"),
  };
  for (const [key, bytes] of Object.entries(files)) {
    const file = path.join(dir, ...key.split("/"));
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, bytes);
  }
  return { dir, files };
}

/**
 * Every file in `dir` has exactly these bytes. Compares digests: a deep toEqual over a 5 MB
 * Buffer walks it byte by byte in the matcher and takes tens of seconds.
 */
export function expectFiles(dir: string, files: Record<string, Buffer>): void {
  for (const [key, bytes] of Object.entries(files)) {
    const actual = readFileSync(path.join(dir, ...key.split("/")));
    expect({ key, sha256: sha256(actual) }).toEqual({ key, sha256: sha256(bytes) });
  }
}

export const sha256 = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/** Direct access to stored objects, bypassing the store under test (to tamper with them). */
export interface RawAccess {
  read(uri: string): Promise<Buffer>;
  write(uri: string, bytes: Buffer): Promise<void>;
  remove(uri: string): Promise<void>;
}

export const localRaw: RawAccess = {
  read: async (uri) => readFileSync(localPath(uri)),
  write: async (uri, bytes) => writeFileSync(localPath(uri), bytes),
  remove: async (uri) => rmSync(localPath(uri)),
};

function localPath(uri: string): string {
  const location = parseArtifactUri(uri);
  if (location.kind !== "local") throw new Error(`not local: ${uri}`);
  return location.path;
}

export function s3Raw(endpoint: string): RawAccess {
  const client = new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  const at = (uri: string) => {
    const location = parseArtifactUri(uri);
    if (location.kind !== "s3") throw new Error(`not s3: ${uri}`);
    return { Bucket: location.bucket, Key: location.key };
  };
  return {
    read: async (uri) => {
      const response = await client.send(new GetObjectCommand(at(uri)));
      return Buffer.from(await response.Body!.transformToByteArray());
    },
    write: async (uri, bytes) => {
      await client.send(new PutObjectCommand({ ...at(uri), Body: bytes }));
    },
    remove: async (uri) => {
      await client.send(new DeleteObjectCommand(at(uri)));
    },
  };
}

/** The error a function throws (fails the test if it does not). */
export function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a throw");
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a rejection");
}
