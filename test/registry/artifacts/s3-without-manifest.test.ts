/**
 * S3 models that mldeploy did not upload (no .mldeploy-manifest.json): MLflow's own layout
 * (`s3://<bucket>/1/<run_id>/artifacts/model`), a copy made with `aws s3 cp --recursive`, one
 * object. Every object here is PUT by a plain @aws-sdk/client-s3 client, as MLflow's boto3 or
 * the AWS CLI would, never by mldeploy's store.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type ListObjectsV2CommandOutput,
} from "@aws-sdk/client-s3";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";

import { Registry } from "../../../src/registry/registry.js";
import {
  MANIFEST_FILE,
  ModelCache,
  S3ArtifactStore,
  artifactStoreFor,
  closeArtifactStores,
  resolveS3Settings,
  verifyLocalDirectory,
} from "../../../src/registry/artifacts/index.js";
import { ObjectArtifactStore } from "../../../src/registry/artifacts/base-store.js";
import { createS3Client } from "../../../src/registry/artifacts/s3-client.js";
import { startS3Server, type S3TestServer } from "../../helpers/s3-server.js";
import { loadPredictor } from "../../../src/model/predictor.js";
import { rideBundlePath } from "../../helpers/ride-bundle.js";
import { tempDir } from "../../helpers/temp.js";
import { expectFiles, makeModelDir, rejection, sha256, useS3rverCredentials } from "./fixtures.js";

useS3rverCredentials();

const BUCKET = "mlflow-artifacts";
let server: S3TestServer;
/** The "other" client: MLflow's boto3, the AWS CLI, a colleague. */
let plain: S3Client;
let counter = 0;

beforeAll(async () => {
  server = await startS3Server([BUCKET]);
  plain = new S3Client({
    endpoint: server.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
});
afterAll(async () => {
  plain.destroy();
  closeArtifactStores();
  await server.stop();
});
afterEach(() => {
  vi.restoreAllMocks();
});

const put = (key: string, bytes: Buffer) =>
  plain.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: bytes }));
const remove = (key: string) => plain.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));

/**
 * A model as `mlflow.sklearn.log_model` leaves it in S3 (MLflow 2.x): model.pkl, MLmodel with
 * `model_size_bytes` measured as MLflow measures it (the directory's files before MLmodel, the
 * environment files and requirements are written), conda.yaml, python_env.yaml,
 * requirements.txt. model.pkl is random bytes: this layer copies files, it does not unpickle.
 */
function mlflowModel(pickleBytes = 300 * 1024): Record<string, Buffer> {
  const pickle = randomBytes(pickleBytes);
  const mlmodel = [
    "artifact_path: model",
    "flavors:",
    "  python_function:",
    "    env:",
    "      conda: conda.yaml",
    "      virtualenv: python_env.yaml",
    "    loader_module: mlflow.sklearn",
    "    model_path: model.pkl",
    "    predict_fn: predict",
    "    python_version: 3.11.2",
    "  sklearn:",
    "    code: null",
    "    pickled_model: model.pkl",
    "    serialization_format: cloudpickle",
    "    sklearn_version: 1.2.1",
    "mlflow_version: 2.9.2",
    `model_size_bytes: ${pickle.length}`,
    "model_uuid: 4f1c2c1b8a3d4c6e9b0e7f5a2d1c3b4a",
    "run_id: 0d3f0b6c2f1e4b7a9c8d6e5f4a3b2c1d",
    "utc_time_created: '2026-12-01 09:12:44.123456'",
    "",
  ].join("\n");
  return {
    MLmodel: Buffer.from(mlmodel),
    "model.pkl": pickle,
    "conda.yaml": Buffer.from(
      "channels:\n- conda-forge\ndependencies:\n- python=3.11.2\n- pip<=23.0.1\n- pip:\n  - mlflow==2.9.2\n  - cloudpickle==2.2.0\n  - scikit-learn==1.2.1\nname: mlflow-env\n",
    ),
    "python_env.yaml": Buffer.from(
      "python: 3.11.2\nbuild_dependencies:\n- pip==23.0.1\ndependencies:\n- -r requirements.txt\n",
    ),
    "requirements.txt": Buffer.from("mlflow==2.9.2\ncloudpickle==2.2.0\nscikit-learn==1.2.1\n"),
  };
}

/** PUTs `files` under a fresh `1/<run_id>/artifacts/model` prefix; returns its s3:// URI. */
async function logged(files: Record<string, Buffer>): Promise<{ uri: string; prefix: string }> {
  const runId = createHash("md5").update(`run-${++counter}`).digest("hex");
  const prefix = `1/${runId}/artifacts/model`;
  for (const [key, bytes] of Object.entries(files)) await put(`${prefix}/${key}`, bytes);
  return { uri: `s3://${BUCKET}/${prefix}`, prefix };
}

/** What mldeploy's clients send (the plain client's requests are left out), and hooks. */
interface Interception {
  sent: { command: string; key: string }[];
  /** Run before a request of mldeploy's is sent. */
  before: ((command: SentCommand) => Promise<void>)[];
  /** May alter what came back. */
  after: ((command: SentCommand, output: unknown) => void)[];
}
type SentCommand = Parameters<S3Client["send"]>[0];

let intercepted: Interception;
beforeEach(() => {
  intercepted = { sent: [], before: [], after: [] };
  const original = S3Client.prototype.send;
  vi.spyOn(S3Client.prototype, "send").mockImplementation(async function (
    this: S3Client,
    ...args: Parameters<S3Client["send"]>
  ) {
    const [command] = args;
    if (this === plain) return original.apply(this, args);
    const input = command.input as { Key?: string; Prefix?: string };
    intercepted.sent.push({
      command: command.constructor.name,
      key: input.Key ?? input.Prefix ?? "",
    });
    for (const hook of intercepted.before) await hook(command);
    const output: unknown = await original.apply(this, args);
    for (const hook of intercepted.after) hook(command, output);
    return output;
  } as S3Client["send"]);
});

/** GETs of objects under `prefix` by mldeploy, the manifest probe left out. */
const objectGets = (prefix: string) =>
  intercepted.sent.filter(
    (r) =>
      r.command === "GetObjectCommand" &&
      r.key.startsWith(prefix) &&
      !r.key.endsWith(MANIFEST_FILE),
  ).length;

/**
 * Runs `change` (with the plain client) just before mldeploy GETs the object whose key ends
 * with `suffix`: a change that lands in the middle of a download, deterministically.
 */
function beforeGetOf(suffix: string, change: () => Promise<unknown>): void {
  let done = false;
  intercepted.before.push(async (command) => {
    const key = (command.input as { Key?: string }).Key ?? "";
    if (command instanceof GetObjectCommand && key.endsWith(suffix) && !done) {
      done = true;
      await change();
    }
  });
}

/** Adds `extra` keys to every listing of `prefix` (what S3 would list, s3rver cannot store). */
function listAlso(prefix: string, extra: string[]): void {
  intercepted.after.push((command, output) => {
    if (!(command instanceof ListObjectsV2Command) || command.input.Prefix !== `${prefix}/`) return;
    const page = output as ListObjectsV2CommandOutput;
    page.Contents = [
      ...(page.Contents ?? []),
      ...extra.map((key) => ({ Key: key, Size: 6, ETag: '"0123456789abcdef0123456789abcdef"' })),
    ];
  });
}

const newCache = (dir = tempDir(), concurrency?: number) =>
  new ModelCache({ dir, store: { endpoint: server.endpoint, concurrency } });

/** Relative paths of every file under `dir`. */
function walk(dir: string, prefix = ""): string[] {
  return readdirSync(path.join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const relative = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    return entry.isDirectory() ? walk(dir, relative) : [relative];
  });
}

/** Whatever the cache holds: entry links and downloads (finished or not). */
function cacheContents(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const entries = path.join(dir, ".entries");
  const inside = existsSync(entries) ? readdirSync(entries).map((name) => `.entries/${name}`) : [];
  return [...readdirSync(dir).filter((name) => name !== ".entries"), ...inside];
}

describe("an MLflow model in S3 (no mldeploy manifest)", () => {
  it("Registry.resolveModel loads s3://<bucket>/1/<run_id>/artifacts/model byte for byte, then from disk", async () => {
    const files = mlflowModel(2 * 1024 * 1024 + 17);
    const { uri, prefix } = await logged(files);
    const dataDir = tempDir();
    const open = () => Registry.open({ dataDir, s3: { endpoint: server.endpoint } });

    const registry = await open();
    const first = await registry.resolveModel(uri);
    await registry.close();
    expect(first.path.startsWith(path.join(dataDir, "cache", "models", ".entries"))).toBe(true);
    expectFiles(first.path, files);
    expect(readdirSync(first.path).sort()).toEqual([MANIFEST_FILE, ...Object.keys(files)].sort());
    // The copy carries a manifest of what arrived, so the cache checks it like any other.
    const manifest = await verifyLocalDirectory(first.path, { hashes: true });
    expect(manifest.files["model.pkl"]).toEqual({
      sha256: sha256(files["model.pkl"]),
      size: files["model.pkl"].length,
    });
    expect(objectGets(prefix)).toBe(5);

    // A restart (a new registry and cache on the same data directory) downloads nothing.
    const restarted = await open();
    const again = await restarted.resolveModel(uri);
    await restarted.close();
    expect(again.path).toBe(first.path);
    expect(objectGets(prefix)).toBe(5);
  });

  it("downloads again when an object changes (same size, new content: a new ETag)", async () => {
    const files = mlflowModel();
    const { uri, prefix } = await logged(files);
    const cache = newCache();
    const first = await cache.fetch(uri, `uri/${uri}`);
    expect(await cache.fetch(uri, `uri/${uri}`)).toBe(first);
    expect(objectGets(prefix)).toBe(5);

    const retrained = randomBytes(files["model.pkl"].length);
    await put(`${prefix}/model.pkl`, retrained);
    const second = await cache.fetch(uri, `uri/${uri}`);
    expect(second).not.toBe(first);
    expectFiles(second, { ...files, "model.pkl": retrained });
    expect(objectGets(prefix)).toBe(10);
    // The first copy is left alone: a process may still be loading it.
    expectFiles(first, files);
    // And the new state is cached in turn.
    expect(await cache.fetch(uri, `uri/${uri}`)).toBe(second);
    expect(objectGets(prefix)).toBe(10);
  });

  it("loads a directory copied by hand, with nested files, an empty file and odd names", async () => {
    const model = makeModelDir(64 * 1024);
    const prefix = `handmade/${++counter}/ride-duration`;
    for (const [key, bytes] of Object.entries(model.files)) await put(`${prefix}/${key}`, bytes);
    const uri = `s3://${BUCKET}/${prefix}`;
    const copy = await newCache().fetch(uri, `uri/${uri}`);
    expectFiles(copy, model.files);
  });

  it("loads a single object (s3://…/lin_reg.bin) as that file in the cache", async () => {
    const bytes = randomBytes(40_000);
    const key = `web-service/${++counter}/lin_reg.bin`;
    await put(key, bytes);
    const uri = `s3://${BUCKET}/${key}`;
    const cache = newCache();
    const file = await cache.fetch(uri, `uri/${uri}`);
    expect(path.basename(file)).toBe("lin_reg.bin");
    expect(sha256(readFileSync(file))).toBe(sha256(bytes));
    expect(await cache.fetch(uri, `uri/${uri}`)).toBe(file);
    expect(objectGets(key)).toBe(1);
  });

  it("refuses a prefix with no MLmodel at its root in one line naming the URI, downloading nothing", async () => {
    const { MLmodel: _, ...rest } = mlflowModel(1000);
    const { uri } = await logged(rest);
    const dir = tempDir();
    const error = await rejection(newCache(dir).fetch(uri, `uri/${uri}`));
    expect(error).toMatchObject({ name: "RegistryError", code: "INVALID_VALUE" });
    expect(error.message).toContain(
      `${uri} is not a model directory: it has no MLmodel at its root`,
    );
    expect(error.message).toContain("conda.yaml, model.pkl");
    expect(error.message).not.toContain("\n");
    expect(cacheContents(dir)).toEqual([]);

    // An empty prefix is not found, as before.
    await expect(
      newCache().fetch(`s3://${BUCKET}/1/nothing-here/artifacts/model`, "x"),
    ).rejects.toMatchObject({
      code: "NOT_FOUND",
      message: expect.stringContaining("no artifacts at"),
    });
  });

  it("refuses an MLmodel whose model_size_bytes the objects do not add up to (files missing)", async () => {
    const files = mlflowModel(10_000);
    files.MLmodel = Buffer.from(
      files.MLmodel.toString().replace("model_size_bytes: 10000", "model_size_bytes: 99999"),
    );
    const { uri } = await logged(files);
    const dir = tempDir();
    const error = await rejection(newCache(dir).fetch(uri, `uri/${uri}`));
    expect(error).toMatchObject({ code: "ARTIFACT_CORRUPT" });
    expect(error.message).toMatch(
      /is incomplete: its MLmodel says model_size_bytes: 99999, but its 5 object\(s\) total \d+ bytes/,
    );
    expect(readdirSync(path.join(dir, ".entries"))).toEqual([]);
  });
});

describe("an ONNX bundle copied to S3 by hand (aws s3 cp --recursive)", () => {
  it("resolves and predicts as the bundle it was copied from", async () => {
    const bundle = await rideBundlePath();
    const prefix = `copied/${++counter}/ride-duration`;
    const files = walk(bundle);
    expect(files).not.toContain(MANIFEST_FILE);
    for (const file of files) {
      await put(`${prefix}/${file}`, readFileSync(path.join(bundle, ...file.split("/"))));
    }
    const registry = await Registry.open({
      dataDir: tempDir(),
      s3: { endpoint: server.endpoint },
    });
    const resolved = await registry.resolveModel(`s3://${BUCKET}/${prefix}`);
    await registry.close();
    const rides = [
      { PULocationID: 43, DOLocationID: 151, trip_distance: 1.01 },
      { PULocationID: 166, DOLocationID: 239, trip_distance: 2.53 },
    ];
    const [fromS3, original] = await Promise.all([
      loadPredictor(resolved.path),
      loadPredictor(bundle),
    ]);
    try {
      const expected = Array.from((await original.predictRecords(rides)).values as Float64Array);
      expect(expected.every((minutes) => minutes > 0)).toBe(true);
      expect(Array.from((await fromS3.predictRecords(rides)).values as Float64Array)).toEqual(
        expected,
      );
    } finally {
      await Promise.all([fromS3.close(), original.close()]);
    }
  });
});

describe("a prefix that changes while it is downloaded leaves no cache entry", () => {
  // One object at a time, in key order: MLmodel, conda.yaml, model.pkl, python_env.yaml …
  const oneAtATime = (dir: string) => newCache(dir, 1);

  async function expectNothingCached(dir: string) {
    expect(readdirSync(path.join(dir, ".entries"))).toEqual([]);
    expect(readdirSync(dir)).toEqual([".entries"]);
  }

  it("an object deleted after the listing: its GET finds nothing", async () => {
    const { uri, prefix } = await logged(mlflowModel());
    const dir = tempDir();
    beforeGetOf(`${prefix}/MLmodel`, () => remove(`${prefix}/model.pkl`));
    const error = await rejection(oneAtATime(dir).fetch(uri, `uri/${uri}`));
    expect(error).toMatchObject({ code: "ARTIFACT_CORRUPT" });
    expect(error.message).toContain(
      `${uri}/model.pkl (listed under ${uri}) was listed but is gone`,
    );
    expect(error.message).toContain("an upload still under way?");
    await expectNothingCached(dir);
  });

  it("an object rewritten with another size after the listing: the GET's answer is refused", async () => {
    const files = mlflowModel(50_000);
    const { uri, prefix } = await logged(files);
    const dir = tempDir();
    beforeGetOf(`${prefix}/MLmodel`, () => put(`${prefix}/model.pkl`, randomBytes(70_000)));
    const error = await rejection(oneAtATime(dir).fetch(uri, `uri/${uri}`));
    expect(error).toMatchObject({ code: "ARTIFACT_CORRUPT" });
    expect(error.message).toContain("model.pkl (listed under");
    expect(error.message).toContain("is now 70000 bytes, not the 50000 listed");
    await expectNothingCached(dir);
  });

  it("an object rewritten with the same size: the ETag tells", async () => {
    const files = mlflowModel(50_000);
    const { uri, prefix } = await logged(files);
    const dir = tempDir();
    beforeGetOf(`${prefix}/MLmodel`, () => put(`${prefix}/model.pkl`, randomBytes(50_000)));
    const error = await rejection(oneAtATime(dir).fetch(uri, `uri/${uri}`));
    expect(error.message).toMatch(
      /model\.pkl \(listed under .*\) was replaced \(ETag [0-9a-f]{32}, listed [0-9a-f]{32}\)/,
    );
    await expectNothingCached(dir);
  });

  it("an object replaced after it was downloaded, or one added: the second listing tells", async () => {
    const { uri, prefix } = await logged(mlflowModel());
    const dir = tempDir();
    // MLmodel is already in when model.pkl is fetched: only listing again can see this.
    beforeGetOf(`${prefix}/model.pkl`, async () => {
      await put(`${prefix}/MLmodel`, Buffer.from("flavors: {}\n"));
      await put(`${prefix}/input_example.json`, Buffer.from("{}"));
    });
    const error = await rejection(oneAtATime(dir).fetch(uri, `uri/${uri}`));
    expect(error).toMatchObject({ code: "ARTIFACT_CORRUPT" });
    expect(error.message).toBe(
      `${uri} changed while it was being downloaded ("MLmodel" was replaced, ` +
        `"input_example.json" appeared): an upload still under way? try again once it has finished`,
    );
    await expectNothingCached(dir);
    // Once the upload is over, the same call works (and gets the new state).
    const copy = await oneAtATime(dir).fetch(uri, `uri/${uri}`);
    expect(readFileSync(path.join(copy, "MLmodel"), "utf8")).toBe("flavors: {}\n");
  });

  it("bytes that do not hash to a plain-MD5 ETag are refused (corrupted in the store)", async () => {
    const files = mlflowModel(20_000);
    const { uri, prefix } = await logged(files);
    // s3rver keeps the object as a file and its MD5 beside it: flip a byte of the file, as a
    // failing disk would; it still answers the old ETag and the same size.
    const stored = path.join(
      server.directory,
      BUCKET,
      ...prefix.split("/"),
      "model.pkl._S3rver_object",
    );
    const bytes = readFileSync(stored);
    bytes[100] ^= 0xff;
    writeFileSync(stored, bytes);
    const dir = tempDir();
    const error = await rejection(newCache(dir).fetch(uri, `uri/${uri}`));
    expect(error).toMatchObject({ code: "ARTIFACT_CORRUPT" });
    expect(error.message).toContain(
      `${uri}/model.pkl (listed under ${uri}) arrived with MD5 ${createHash("md5").update(bytes).digest("hex")}, ` +
        `but its ETag says ${createHash("md5").update(files["model.pkl"]).digest("hex")}`,
    );
    await expectNothingCached(dir);
  });
});

describe("keys that would leave the cache directory", () => {
  // S3 stores such keys as they are; s3rver keeps objects as files and cannot, so they are added
  // to its listing answer, where the real S3 would have them.
  it.each([
    ["a .. segment", (prefix: string) => `${prefix}/../../../evil.sh`],
    ["an absolute path (empty segment)", (prefix: string) => `${prefix}//etc/cron.d/evil`],
    ["a backslash", (prefix: string) => `${prefix}/..\\..\\evil.bat`],
  ])("refuses %s before downloading anything", async (_name, evilKey) => {
    const { uri, prefix } = await logged(mlflowModel(1000));
    const key = evilKey(prefix);
    listAlso(prefix, [key]);
    const parent = tempDir();
    const dir = path.join(parent, "cache");
    const error = await rejection(newCache(dir).fetch(uri, `uri/${uri}`));
    expect(error).toMatchObject({ code: "ARTIFACT_CORRUPT" });
    expect(error.message).toContain(
      `holds an object whose key ${JSON.stringify(key)} is not a safe`,
    );
    expect(objectGets(prefix)).toBe(0);
    expect(readdirSync(parent)).toEqual(["cache"]);
    expect(cacheContents(dir)).toEqual([]);
  });
});

describe("a prefix with a manifest", () => {
  it("is downloaded through its manifest as before, not by listing", async () => {
    const model = makeModelDir(32 * 1024);
    const uri = `s3://${BUCKET}/mldeploy/${++counter}/model`;
    await artifactStoreFor(uri, { endpoint: server.endpoint }).uploadDirectory(model.dir, uri);
    const byManifest = vi.spyOn(ObjectArtifactStore.prototype, "downloadDirectory");
    const byListing = vi.spyOn(S3ArtifactStore.prototype, "downloadListed");
    const cache = newCache();
    const copy = await cache.fetch(uri, "ride@1");
    expectFiles(copy, model.files);
    expect(byManifest).toHaveBeenCalledTimes(1);
    expect(byListing).not.toHaveBeenCalled();
    expect(
      lstatSync(
        path.join(
          cache.dir,
          readdirSync(cache.dir).find((n) => n !== ".entries")!,
        ),
      ).isSymbolicLink(),
    ).toBe(true);
  });
});

describe("S3ArtifactStore.listModel", () => {
  it("follows continuation tokens and records sizes and ETags", async () => {
    const files = mlflowModel(3000);
    const { uri } = await logged(files);
    const client = createS3Client(resolveS3Settings({ endpoint: server.endpoint }));
    try {
      const paged = new S3ArtifactStore(client, server.endpoint, { listPageSize: 2 });
      const listing = await paged.listModel(uri);
      expect(listing.kind).toBe("prefix");
      expect(listing.objects.map((o) => [o.path, o.size, o.etag])).toEqual(
        Object.keys(files)
          .sort()
          .map((key) => [
            key,
            files[key].length,
            createHash("md5").update(files[key]).digest("hex"),
          ]),
      );
      // A prefix too big to be a model directory is not listed to its end.
      await expect(paged.listEntries(uri, { limit: 3 })).rejects.toMatchObject({
        code: "INVALID_VALUE",
        message: expect.stringContaining(`${uri} holds more than 3 objects`),
      });
    } finally {
      client.destroy();
    }
  });
});
