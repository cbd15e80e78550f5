import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import net from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { openNatsSink, openNatsSource } from "../../../src/stream/nats/index.js";
import { tempDir } from "../../helpers/temp.js";
import { payload, text } from "./helpers.js";

const BINARY = "/usr/sbin/nats-server";

/** A private nats-server, so restarting it disturbs no other test. */
function startServer(port: number, storeDir: string): ChildProcess {
  return spawn(BINARY, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir], {
    stdio: "ignore",
  });
}

async function waitForPort(port: number, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.end();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nats-server did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stopServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null) return;
  const exited = new Promise((resolve) => server.once("exit", resolve));
  server.kill("SIGTERM");
  await exited;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const address = srv.address();
      srv.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

const servers: ChildProcess[] = [];
afterAll(async () => {
  for (const s of servers) await stopServer(s);
});

describe.skipIf(!existsSync(BINARY))("NATS source across a server restart", () => {
  it("keeps reading (returning [] meanwhile) and gets messages published after the restart", async () => {
    const port = await freePort();
    const store = tempDir("mldeploy-nats-");
    const url = `nats://127.0.0.1:${port}/restart_events`;
    let server = startServer(port, store);
    servers.push(server);
    await waitForPort(port);

    const source = openNatsSource(url, { group: "g", consumer: "c" });
    const sink = openNatsSink(url);
    await source.open();
    await sink.open();
    try {
      await sink.publish([{ data: payload(1) }]);
      const before = await source.read({ maxMessages: 1, maxWaitMs: 2000 });
      await source.ack(before);
      expect(before.map((m) => text(m.data))).toEqual([text(payload(1))]);

      await stopServer(server);
      // The outage is not thrown to the loop: reads just come back empty.
      for (let i = 0; i < 3; i++) {
        expect(await source.read({ maxMessages: 1, maxWaitMs: 100 })).toEqual([]);
      }

      server = startServer(port, store);
      servers.push(server);
      await waitForPort(port);
      // The sink reconnects by itself too; its first publish may land mid-reconnect.
      const end = Date.now() + 10_000;
      for (;;) {
        try {
          await sink.publish([{ data: payload(2) }]);
          break;
        } catch (err) {
          if (Date.now() > end) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      const after: string[] = [];
      while (after.length === 0 && Date.now() < end) {
        const got = await source.read({ maxMessages: 1, maxWaitMs: 200 });
        await source.ack(got);
        after.push(...got.map((m) => text(m.data)));
      }
      expect(after).toEqual([text(payload(2))]);
    } finally {
      await source.close();
      await sink.close();
    }
  });
});
