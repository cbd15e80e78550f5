import { createServer } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  artifactStoreFor,
  closeArtifactStores,
  resolveS3Settings,
} from "../../../src/registry/artifacts/index.js";
import { UserError } from "../../../src/config/errors.js";
import { startS3Server, type S3TestServer } from "../../helpers/s3-server.js";
import { makeModelDir, rejection, thrown, useS3rverCredentials } from "./fixtures.js";
import { tempDir } from "../../helpers/temp.js";

useS3rverCredentials();

let server: S3TestServer;
beforeAll(async () => {
  server = await startS3Server(["models"]);
});
afterAll(async () => {
  closeArtifactStores();
  await server.stop();
});

/** A port nothing listens on: bound by the OS, then released. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe("S3 failures become one-line errors naming bucket, key and endpoint", () => {
  it("unknown bucket", async () => {
    const model = makeModelDir(4096);
    const store = artifactStoreFor("s3://no-such-bucket/x", { endpoint: server.endpoint });
    const upload = await rejection(store.uploadDirectory(model.dir, "s3://no-such-bucket/x"));
    expect(upload).toMatchObject({ name: "RegistryError", code: "NOT_FOUND" });
    expect(upload.message).toBe(
      `S3 bucket "no-such-bucket" does not exist at ${server.endpoint} (from option)`,
    );
    await expect(store.downloadDirectory("s3://no-such-bucket/x", tempDir())).rejects.toMatchObject(
      {
        code: "NOT_FOUND",
        message: expect.stringContaining('"no-such-bucket"'),
      },
    );
    await expect(store.exists("s3://no-such-bucket/x")).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });

  it("connection refused names the endpoint and where it came from, quickly", async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const previous = process.env.MLDEPLOY_S3_ENDPOINT;
    process.env.MLDEPLOY_S3_ENDPOINT = endpoint;
    try {
      const store = artifactStoreFor("s3://models/x", { maxAttempts: 1 });
      const started = Date.now();
      const error = await rejection(store.downloadDirectory("s3://models/x", tempDir()));
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(error).toBeInstanceOf(UserError);
      expect(error.message).toContain(`cannot reach the S3 endpoint ${endpoint}`);
      expect(error.message).toContain("from MLDEPLOY_S3_ENDPOINT");
      expect(error.message).toContain("ECONNREFUSED");
      expect(error.message).toContain("s3://models/x/.mldeploy-manifest.json");
    } finally {
      if (previous === undefined) delete process.env.MLDEPLOY_S3_ENDPOINT;
      else process.env.MLDEPLOY_S3_ENDPOINT = previous;
    }
  });

  it("an unknown access key is UNAUTHORIZED, not a stack", async () => {
    // (s3rver checks the access key id only, not SigV4 signatures, so a wrong secret passes.)
    const keyId = process.env.AWS_ACCESS_KEY_ID;
    // Credentials are resolved once per client: start from fresh clients.
    closeArtifactStores();
    process.env.AWS_ACCESS_KEY_ID = "NOBODY";
    try {
      const store = artifactStoreFor("s3://models/x", { endpoint: server.endpoint });
      const error = await rejection(store.exists("s3://models/x"));
      expect(error).toMatchObject({ name: "RegistryError", code: "UNAUTHORIZED" });
      expect(error.message).toBe(
        `access denied checking s3://models/x at ${server.endpoint} (from option) ` +
          "(HTTP 403); check the AWS credentials",
      );
      await expect(store.downloadDirectory("s3://models/x", tempDir())).rejects.toMatchObject({
        code: "UNAUTHORIZED",
        message: expect.stringContaining("InvalidAccessKeyId"),
      });
    } finally {
      process.env.AWS_ACCESS_KEY_ID = keyId;
      closeArtifactStores();
    }
  });

  it("no credentials at all is a UserError saying what to set", async () => {
    const saved = { ...process.env };
    closeArtifactStores();
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    delete process.env.AWS_PROFILE;
    // Keep the chain off this machine's files and off the EC2 metadata service.
    process.env.AWS_CONFIG_FILE = path.join(tempDir(), "none");
    process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(tempDir(), "none");
    process.env.AWS_EC2_METADATA_DISABLED = "true";
    try {
      const store = artifactStoreFor("s3://models/x", { endpoint: server.endpoint });
      const error = await rejection(store.exists("s3://models/x"));
      expect(error).toBeInstanceOf(UserError);
      expect(error.message).toContain("no AWS credentials for s3://models/x");
    } finally {
      process.env = saved;
      closeArtifactStores();
    }
  });

  it("a bucket URI cannot be used as an object", async () => {
    const store = artifactStoreFor("s3://models", { endpoint: server.endpoint });
    const file = path.join(makeModelDir(4096).dir, "MLmodel");
    await expect(store.uploadFile(file, "s3://models")).rejects.toMatchObject({
      code: "INVALID_VALUE",
    });
  });
});

describe("resolveS3Settings", () => {
  it("takes the endpoint from the option, then MLDEPLOY_S3_ENDPOINT, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL", () => {
    const env = {
      MLDEPLOY_S3_ENDPOINT: "http://mldeploy:9000",
      AWS_ENDPOINT_URL_S3: "http://aws-s3:9000",
      AWS_ENDPOINT_URL: "http://aws:9000",
    };
    expect(resolveS3Settings({ endpoint: "http://opt:1" }, env).endpoint).toBe("http://opt:1");
    expect(resolveS3Settings({}, env)).toMatchObject({
      endpoint: "http://mldeploy:9000",
      endpointSource: "MLDEPLOY_S3_ENDPOINT",
      forcePathStyle: true,
    });
    expect(resolveS3Settings({}, { ...env, MLDEPLOY_S3_ENDPOINT: "" }).endpoint).toBe(
      "http://aws-s3:9000",
    );
    expect(resolveS3Settings({}, { AWS_ENDPOINT_URL: "http://aws:9000" }).endpoint).toBe(
      "http://aws:9000",
    );
    expect(resolveS3Settings({}, {})).toMatchObject({
      endpoint: undefined,
      region: "us-east-1",
      forcePathStyle: false,
    });
  });

  it("takes the region from AWS_REGION, then AWS_DEFAULT_REGION", () => {
    expect(resolveS3Settings({}, { AWS_REGION: "eu-west-1", AWS_DEFAULT_REGION: "x" }).region).toBe(
      "eu-west-1",
    );
    expect(resolveS3Settings({}, { AWS_DEFAULT_REGION: "eu-central-1" }).region).toBe(
      "eu-central-1",
    );
  });

  it("refuses an endpoint that is not an http(s) URL, naming the variable", () => {
    const error = thrown(() => resolveS3Settings({}, { AWS_ENDPOINT_URL: "localhost:9000" }));
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toContain("AWS_ENDPOINT_URL");
  });
});
