import { connect } from "node:net";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runRegistryServer } from "../../../src/registry/server/run.js";
import { SqliteStore } from "../../../src/registry/store/sqlite-store.js";
import { tempDir } from "../../helpers/temp.js";

describe("registry server shutdown", () => {
  it("closes a connection still busy once the grace period is over, instead of waiting on it", async () => {
    const store = await SqliteStore.open(path.join(tempDir("mldeploy-grace-"), "registry.db"));
    const server = await runRegistryServer({ store, host: "127.0.0.1", port: 0 });
    try {
      const { port } = new URL(server.url);
      // A client that announces a body and never sends it: its request stays in flight, as a
      // browser that stopped reading a download keeps its response in flight.
      const socket = connect(Number(port), "127.0.0.1");
      await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
      const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
      socket.on("error", () => undefined);
      socket.write(
        "POST /api/v1/experiments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
          "Content-Length: 1000\r\n\r\n{",
      );
      await new Promise((resolve) => setTimeout(resolve, 200));

      let done = false;
      const closing = server.close(1_000).then(() => (done = true));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(done).toBe(false); // the request in flight is waited for…
      await closing; // …until the grace period is over: then its connection is closed
      await closed;
    } finally {
      await server.close();
      await store.close();
    }
  });
});
