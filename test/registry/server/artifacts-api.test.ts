import { mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withDuckDB } from "../../../src/duckdb/index.js";
import { closeArtifactStores } from "../../../src/registry/artifacts/open.js";
import { joinArtifactUri } from "../../../src/registry/artifacts/uri.js";
import { Registry } from "../../../src/registry/registry.js";
import type { Run } from "../../../src/registry/store/types.js";
import { rideBundlePath } from "../../helpers/ride-bundle.js";
import { S3RVER_CREDENTIALS, startS3Server, type S3TestServer } from "../../helpers/s3-server.js";
import { tempDir } from "../../helpers/temp.js";
import { api, startRegistry, type TestRegistry } from "./helpers.js";

const TOKEN = "artifacts-token";
/** A 1×1 PNG. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
  "base64",
);
const NOTES = "line one\nline two, a bit longer\n";
const CSV = "id,name,score\n1,alpha,2.5\n2,beta,3.5\n3,gamma,4.5\n";

/** A directory of artifacts as a run logs them: text, JSON, CSV, Parquet, an image. */
async function artifactFiles(): Promise<string> {
  const dir = tempDir("mldeploy-artifacts-src-");
  await mkdir(path.join(dir, "data"));
  await writeFile(path.join(dir, "notes.txt"), NOTES);
  await writeFile(path.join(dir, "metrics.json"), JSON.stringify({ rmse: 5.5, r2: 0.7 }));
  await writeFile(path.join(dir, "data", "table.csv"), CSV);
  await writeFile(path.join(dir, "plot.png"), PNG);
  await writeFile(path.join(dir, "page.html"), "<script>alert(1)</script>");
  // Longer than the part of a CSV read for its head (1 MiB).
  const lines = Array.from({ length: 60_000 }, (_, i) => `${i},"name ${i}",${i / 2}`);
  await writeFile(path.join(dir, "data", "big.csv"), `id,name,half\n${lines.join("\n")}\n`);
  const parquet = path.join(dir, "data", "table.parquet");
  await withDuckDB(async (connection) => {
    await connection.run(
      "COPY (SELECT i AS id, 'row ' || i AS label, (i * 0.5)::DOUBLE AS value FROM range(250) t(i)) " +
        `TO '${parquet.replaceAll("'", "''")}' (FORMAT parquet)`,
    );
  });
  return dir;
}

interface Setup {
  name: string;
  /** The server's artifact root; set up before the server starts. */
  root: () => Promise<string>;
  teardown?: () => Promise<void>;
}

let s3: S3TestServer | undefined;
const SETUPS: Setup[] = [
  { name: "local artifacts", root: async () => tempDir("mldeploy-artifacts-root-") },
  {
    name: "S3 artifacts (s3rver)",
    root: async () => {
      Object.assign(process.env, S3RVER_CREDENTIALS);
      s3 = await startS3Server(["runs"]);
      process.env.MLDEPLOY_S3_ENDPOINT = s3.endpoint;
      return "s3://runs/mlruns";
    },
    teardown: async () => {
      closeArtifactStores();
      delete process.env.MLDEPLOY_S3_ENDPOINT;
      await s3?.stop();
    },
  },
];

describe.each(SETUPS)("run artifacts through the registry API ($name)", (setup) => {
  let registry: TestRegistry;
  let client: Registry;
  let run: Run;
  const get = (route: string, options: { token?: string } = { token: TOKEN }) =>
    api(registry.url, "GET", `/api/v1/runs/${run.id}${route}`, options);
  const raw = (route: string) =>
    fetch(`${registry.url}/api/v1/runs/${run.id}${route}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });

  beforeAll(async () => {
    const root = await setup.root();
    // allowedArtifactRoots [] : the server checks locations against its own root only.
    registry = await startRegistry({ token: TOKEN, artifactRoot: root, allowedArtifactRoots: [] });
    client = await Registry.open({
      url: registry.url,
      token: TOKEN,
      dataDir: tempDir("mldeploy-artifacts-client-"),
    });
    const active = await client.startRun({ experiment: "artifacts" });
    await active.logArtifacts(await artifactFiles(), "outputs");
    // As `mldeploy train --experiment` does: the bundle goes to the run's `model`.
    await active.logModel(await rideBundlePath());
    run = await active.end();
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await registry?.close();
    await setup.teardown?.();
  });

  it("lists every file with its size, without the stores' manifests; ?path= lists one directory", async () => {
    const answer = await get("/artifacts");
    expect(answer.status).toBe(200);
    const body = answer.body as { artifactUri: string; files: { path: string; size: number }[] };
    expect(body.artifactUri).toBe(run.artifactUri);
    const paths = body.files.map((file) => file.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        "outputs/notes.txt",
        "outputs/metrics.json",
        "outputs/data/table.csv",
        "outputs/data/table.parquet",
        "outputs/plot.png",
        "model/MLmodel",
        "model/model.onnx",
        "model/input_example.json",
      ]),
    );
    expect(paths.some((p) => p.endsWith(".mldeploy-manifest.json"))).toBe(false);
    expect(body.files.find((file) => file.path === "outputs/notes.txt")?.size).toBe(
      Buffer.byteLength(NOTES),
    );
    const data = await get("/artifacts?path=outputs/data");
    expect((data.body as { files: { path: string }[] }).files.map((f) => f.path)).toEqual([
      "outputs/data/big.csv",
      "outputs/data/table.csv",
      "outputs/data/table.parquet",
    ]);
  });

  it("answers a file's bytes with its type, its head with maxBytes, and a download with Content-Disposition", async () => {
    const text = await raw("/artifacts/file?path=outputs/notes.txt");
    expect(text.status).toBe(200);
    expect(text.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(text.headers.get("x-content-type-options")).toBe("nosniff");
    expect(text.headers.get("content-disposition")).toMatch(/^inline; filename="notes.txt"/);
    expect(await text.text()).toBe(NOTES);

    const head = await raw("/artifacts/file?path=outputs/notes.txt&maxBytes=8");
    expect(await head.text()).toBe("line one");
    expect(head.headers.get("x-artifact-truncated")).toBe("true");
    const whole = await raw("/artifacts/file?path=outputs/notes.txt&maxBytes=1000");
    expect(whole.headers.get("x-artifact-truncated")).toBe("false");

    const png = await raw("/artifacts/file?path=outputs/plot.png&download=true");
    expect(png.headers.get("content-type")).toBe("image/png");
    expect(png.headers.get("content-disposition")).toBe(
      "attachment; filename=\"plot.png\"; filename*=UTF-8''plot.png",
    );
    expect(Buffer.from(await png.arrayBuffer()).equals(PNG)).toBe(true);

    // A page a run logged never runs as a page of the registry's origin.
    const html = await raw("/artifacts/file?path=outputs/page.html");
    expect(html.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(html.headers.get("content-security-policy")).toBe("default-src 'none'; sandbox");

    const mlmodel = await raw("/artifacts/file?path=model/MLmodel");
    expect(mlmodel.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(await mlmodel.text()).toContain("flavors:");
  });

  it("answers the head of a CSV and of a Parquet file as columns and rows", async () => {
    const csv = await get("/artifacts/table?path=outputs/data/table.csv&rows=2");
    expect(csv.status).toBe(200);
    expect(csv.body).toEqual({
      format: "csv",
      columns: ["id", "name", "score"],
      types: ["VARCHAR", "VARCHAR", "VARCHAR"],
      rows: [
        ["1", "alpha", "2.5"],
        ["2", "beta", "3.5"],
      ],
      truncated: true,
      totalRows: null,
    });
    const all = await get("/artifacts/table?path=outputs/data/table.csv");
    expect(all.body).toMatchObject({ truncated: false, totalRows: 3 });
    const big = await get("/artifacts/table?path=outputs/data/big.csv&rows=1000");
    expect(big.status).toBe(200);
    const bigBody = big.body as { rows: string[][]; truncated: boolean };
    expect(bigBody.rows).toHaveLength(1000);
    expect(bigBody.rows[999]).toEqual(["999", "name 999", "499.5"]);
    expect(bigBody.truncated).toBe(true);

    const parquet = await get("/artifacts/table?path=outputs/data/table.parquet&rows=3");
    expect(parquet.status).toBe(200);
    expect(parquet.body).toMatchObject({
      format: "parquet",
      columns: ["id", "label", "value"],
      truncated: true,
      totalRows: 250,
    });
    const body = parquet.body as { types: string[]; rows: unknown[][] };
    expect(body.types[1]).toBe("VARCHAR");
    expect(body.rows).toHaveLength(3);
    expect(body.rows[2].slice(1)).toEqual(["row 2", 1]);
  });

  it("shows the model a directory holds with the source and signature the CLI registers", async () => {
    const answer = await get("/artifacts/model?path=model");
    expect(answer.status).toBe(200);
    const model = answer.body as {
      source: string;
      runId: string;
      onnx: boolean;
      signature: { inputs: { name: string; type: string }[] };
      signatureJson: string;
      inputExample: { columns: string[] };
      servingInputExample: { dataframe_split: unknown };
    };
    expect(model.source).toBe(joinArtifactUri(run.artifactUri, "model"));
    expect(model.runId).toBe(run.id);
    expect(model.onnx).toBe(true);
    expect(model.signature.inputs.map((input) => input.name)).toEqual(
      expect.arrayContaining(["PULocationID", "DOLocationID", "trip_distance"]),
    );
    expect(model.inputExample.columns).toContain("trip_distance");
    expect(model.servingInputExample).toHaveProperty("dataframe_split");

    // What `mldeploy models register name runs:/<run>/model` records, for comparison.
    const cli = await client.registerModel("by-cli", model.source, { runId: run.id });
    expect(model.signatureJson).toBe(cli.signature);

    // Registered from these fields, the version passes the server's artifact-root rule and
    // resolves to a bundle as the CLI's does.
    const posted = await api(registry.url, "POST", "/api/v1/models/by-page/versions", {
      token: TOKEN,
      body: { source: model.source, runId: run.id, signature: model.signatureJson },
    });
    expect(posted.status).toBe(201);
    expect(posted.body).toMatchObject({ version: 1, source: cli.source, signature: cli.signature });
    const resolved = await client.resolveModel("models:/by-page/1");
    expect(resolved.runId).toBe(run.id);
  });

  it("refuses path traversal with 400 naming the field", async () => {
    for (const bad of ["../x", "outputs/../../x", "/etc/passwd", "outputs//notes.txt", "a\\b"]) {
      for (const route of [
        "/artifacts/file",
        "/artifacts/table",
        "/artifacts/model",
        "/artifacts",
      ]) {
        const answer = await get(`${route}?path=${encodeURIComponent(bad)}`);
        expect(answer.status, `${route} ${bad}`).toBe(400);
        expect(answer.body, `${route} ${bad}`).toMatchObject({
          error: { code: "INVALID_VALUE", field: "path" },
        });
      }
    }
    const notTable = await get("/artifacts/table?path=outputs/notes.txt");
    expect(notTable.status).toBe(400);
    expect(notTable.body).toMatchObject({ error: { field: "path" } });
  });

  it("answers 404 for an unknown run, a missing file and a directory without MLmodel", async () => {
    const unknown = await api(
      registry.url,
      "GET",
      `/api/v1/runs/${"0".repeat(32)}/artifacts/file?path=x.txt`,
      { token: TOKEN },
    );
    expect(unknown.status).toBe(404);
    expect((await get("/artifacts/file?path=outputs/missing.txt")).status).toBe(404);
    expect((await get("/artifacts/file?path=outputs/data")).status).toBe(404);
    expect((await get("/artifacts/table?path=outputs/missing.csv")).status).toBe(404);
    const noModel = await get("/artifacts/model?path=outputs");
    expect(noModel.status).toBe(404);
    expect(noModel.body).toMatchObject({ error: { message: expect.stringContaining("MLmodel") } });
  });

  it("answers 401 without the token", async () => {
    for (const route of [
      "/artifacts",
      "/artifacts/file?path=outputs/notes.txt",
      "/artifacts/table?path=outputs/data/table.csv",
      "/artifacts/model?path=model",
    ]) {
      const answer = await get(route, {});
      expect(answer.status, route).toBe(401);
    }
  });

  // Links and foreign roots exist on disk only.
  if (!setup.name.startsWith("local")) return;
  it("refuses a link that leads out of the run's root, and a run whose root is outside the server's", async () => {
    const root = run.artifactUri;
    await symlink("/etc/hostname", path.join(root, "outputs", "escape.txt"));
    // A directory holding a model, but outside the root.
    await symlink(await rideBundlePath(), path.join(root, "outputs", "linked-model"));
    const file = await get("/artifacts/file?path=outputs/escape.txt");
    expect(file.status).toBe(400);
    expect(file.body).toMatchObject({ error: { field: "path" } });
    const model = await get("/artifacts/model?path=outputs/linked-model");
    expect(model.status).toBe(400);
    expect(model.body).toMatchObject({ error: { field: "path" } });

    const elsewhere = await registry.local.createExperiment("elsewhere", {
      artifactLocation: tempDir("mldeploy-elsewhere-"),
    });
    const stray = await registry.local.createRun({ experimentId: elsewhere.id });
    const refused = await api(registry.url, "GET", `/api/v1/runs/${stray.id}/artifacts`, {
      token: TOKEN,
    });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({
      error: { message: expect.stringContaining("outside this server's artifact roots") },
    });
  });
});
