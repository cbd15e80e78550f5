import path from "node:path";
import { afterAll } from "vitest";
import { runRegistryServer, type RunningRegistryServer } from "../../../src/registry/server/run.js";
import { SqliteStore } from "../../../src/registry/store/sqlite-store.js";
import type { RegistryStore } from "../../../src/registry/store/types.js";
import { tempDir } from "../../helpers/temp.js";
import { describeStoreContract } from "../store/contract.js";
import { OwningHttpStore } from "./helpers.js";

// The shared RegistryStore suite through the whole chain: HttpStore → HTTP → registry server →
// SqliteStore. Each test gets its own empty database; one server serves them all (through a
// store that forwards to the current test's database) to keep the suite quick.
let current: RegistryStore | undefined;
const forwarding = new Proxy({} as RegistryStore, {
  get(_target, property) {
    if (current === undefined) throw new Error("no store for this test");
    const value: unknown = Reflect.get(current, property);
    return typeof value === "function" ? value.bind(current) : value;
  },
});

let server: RunningRegistryServer | undefined;
afterAll(() => server?.close());

describeStoreContract("HTTP → registry server → SQLite", async ({ artifactRoot }) => {
  const local = await SqliteStore.open(path.join(tempDir("mldeploy-http-"), "registry.db"), {
    artifactRoot,
  });
  current = local;
  // The contract registers sources anywhere; the server's artifact roots are tested apart.
  server ??= await runRegistryServer({
    store: forwarding,
    port: 0,
    token: "contract",
    anyArtifactLocation: true,
  });
  return new OwningHttpStore({ url: server.url, token: "contract" }, async () => {
    current = undefined;
    await local.close();
  });
});
