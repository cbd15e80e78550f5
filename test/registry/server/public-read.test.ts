import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runCli } from "../../helpers/cli.js";
import { tempDir } from "../../helpers/temp.js";
import { startUi, type UiServer } from "../../ui/browser.js";
import { startServerProcess, type ServerProcess } from "./server-process.js";

const TOKEN = "public-read-token";

interface Answer {
  status: number;
  body: { error?: { code?: string; message?: string } } & Record<string, unknown>;
}

async function call(
  server: { url: string },
  method: string,
  apiPath: string,
  options: { authorization?: string; body?: unknown } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (options.authorization !== undefined) headers.authorization = options.authorization;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${server.url}${apiPath}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  return { status: response.status, body: text === "" ? {} : (JSON.parse(text) as Answer["body"]) };
}

const bearer = (token: string) => `Bearer ${token}`;

const running: ServerProcess[] = [];
async function start(args: string[]): Promise<ServerProcess> {
  const server = await startServerProcess([
    "--data-dir",
    tempDir("mldeploy-public-read-"),
    ...args,
  ]);
  running.push(server);
  return server;
}
afterEach(async () => {
  for (const server of running.splice(0)) {
    server.child.kill("SIGTERM");
    await server.exited;
  }
});

/** Anonymous reads answered, anonymous writes refused, credentials always checked. */
async function expectPublicRead(server: { url: string }): Promise<void> {
  expect((await call(server, "GET", "/api/v1/experiments")).status).toBe(200);
  const created = await call(server, "POST", "/api/v1/experiments", {
    body: { name: "anonymous" },
  });
  expect(created.status).toBe(401);
  expect(created.body.error?.message).toContain("requires a token");
}

describe("registry-server --public-read (real processes)", () => {
  it("without the flag every API request needs the token; /health does not", async () => {
    const server = await start(["--registry-token", TOKEN]);
    const anonymous = await call(server, "GET", "/api/v1/experiments");
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error?.code).toBe("UNAUTHORIZED");
    expect((await call(server, "HEAD", "/api/v1/experiments")).status).toBe(401);
    expect((await call(server, "GET", "/api/v1/openapi.json")).status).toBe(401);
    expect((await call(server, "POST", "/api/v1/runs/search", { body: {} })).status).toBe(401);
    expect(
      (await call(server, "GET", "/api/v1/experiments", { authorization: bearer(TOKEN) })).status,
    ).toBe(200);
    expect((await call(server, "GET", "/health")).status).toBe(200);
    const ready = server.lines.find((line) => typeof line.url === "string");
    expect(ready?.auth).toBe(true);
    expect(ready?.publicRead).toBeUndefined();
  });

  it("with --public-read, reads need no token, writes do, and a wrong token is refused even on reads", async () => {
    const server = await start(["--registry-token", TOKEN, "--public-read"]);
    const ready = server.lines.find((line) => typeof line.url === "string");
    expect(ready?.publicRead).toBe(true);
    expect(ready?.msg).toContain("reads need no token, writes do");

    await expectPublicRead(server);
    expect((await call(server, "HEAD", "/api/v1/experiments")).status).toBe(200);
    // A search is a read even though its filter travels in a POST body.
    const search = await call(server, "POST", "/api/v1/runs/search", { body: {} });
    expect(search.status).toBe(200);
    expect((await call(server, "GET", "/api/v1/experiments/nope")).status).toBe(404);

    // Writes: refused without the token, done with it.
    const written = await call(server, "POST", "/api/v1/experiments", {
      authorization: bearer(TOKEN),
      body: { name: "with-token" },
    });
    expect(written.status).toBe(201);
    const id = String(written.body.id);
    expect(
      (await call(server, "POST", `/api/v1/runs`, { body: { experimentId: id } })).status,
    ).toBe(401);
    expect(
      (await call(server, "PUT", "/api/v1/models/m/aliases/production", { body: {} })).status,
    ).toBe(401);
    expect((await call(server, "DELETE", "/api/v1/models/m/aliases/production")).status).toBe(401);
    const listed = await call(server, "GET", `/api/v1/experiments/${id}`);
    expect(listed.status).toBe(200);
    expect(listed.body.name).toBe("with-token");

    // Credentials that are sent are checked: never silently downgraded to an anonymous read.
    const wrong = await call(server, "GET", "/api/v1/experiments", {
      authorization: bearer("not-the-token"),
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error?.message).toContain("refused");
    expect(
      (await call(server, "GET", "/api/v1/experiments", { authorization: "Basic dXNlcjpwdw==" }))
        .status,
    ).toBe(401);
    expect(
      (
        await call(server, "POST", "/api/v1/experiments", {
          authorization: bearer("not-the-token"),
          body: { name: "wrong" },
        })
      ).status,
    ).toBe(401);

    // The OpenAPI document says which operations take an optional token.
    const openapi = await call(server, "GET", "/api/v1/openapi.json");
    expect(openapi.status).toBe(200);
    const paths = openapi.body.paths as Record<string, Record<string, { security?: unknown }>>;
    expect(paths["/api/v1/experiments"].get.security).toEqual([{}, { bearerAuth: [] }]);
    expect(paths["/api/v1/runs/search"].post.security).toEqual([{}, { bearerAuth: [] }]);
    expect(paths["/api/v1/experiments"].post.security).toBeUndefined();
    expect(openapi.body.security).toEqual([{ bearerAuth: [] }]);
  });

  it("takes the flag as MLDEPLOY_PUBLIC_READ", async () => {
    // startServerProcess passes its parent's environment on: set for this one spawn only.
    process.env.MLDEPLOY_PUBLIC_READ = "true";
    try {
      await expectPublicRead(await start(["--registry-token", TOKEN]));
    } finally {
      delete process.env.MLDEPLOY_PUBLIC_READ;
    }
  });

  it("takes the flag as publicRead in the config file's registry-server section", async () => {
    const file = path.join(tempDir("mldeploy-public-read-config-"), "mldeploy.config.yaml");
    writeFileSync(file, `registry-server:\n  registryToken: ${TOKEN}\n  publicRead: true\n`);
    await expectPublicRead(await start(["--config", file]));
  });

  it("publicRead: false in the config file keeps reads behind the token", async () => {
    const file = path.join(tempDir("mldeploy-public-read-config-"), "mldeploy.config.yaml");
    writeFileSync(file, `registry-server:\n  registryToken: ${TOKEN}\n  publicRead: false\n`);
    const server = await start(["--config", file]);
    expect((await call(server, "GET", "/api/v1/experiments")).status).toBe(401);
  });

  it("mldeploy ui takes it from its config file section too", async () => {
    const dir = tempDir("mldeploy-public-read-ui-");
    const file = path.join(dir, "mldeploy.config.yaml");
    writeFileSync(file, "ui:\n  publicRead: true\n");
    // startUi sets MLDEPLOY_REGISTRY_TOKEN: the config file adds only the flag.
    const ui: UiServer = await startUi(path.join(dir, "data"), { args: ["--config", file] });
    try {
      await expectPublicRead(ui);
    } finally {
      await ui.stop();
    }
  });

  it.each(["registry-server", "ui"])(
    "%s --help explains the flag and its env variable",
    async (verb) => {
      const help = (await runCli([verb, "--help"])).stdout.replace(/\s+/g, " ");
      expect(help).toContain("--public-read");
      expect(help).toContain("MLDEPLOY_PUBLIC_READ");
      expect(help).toContain("writes still need the token");
    },
  );
});
