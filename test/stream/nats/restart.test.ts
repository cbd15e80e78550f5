import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { UnreachableError } from "../../../src/config/errors.js";
import { openNatsSink, openNatsSource } from "../../../src/stream/nats/index.js";
import { tempDir } from "../../helpers/temp.js";
import { payload, text } from "./helpers.js";
import { NATS_BINARY, freePort, haveNats, stopProcess, waitForPort } from "../private-brokers.js";

/** A private nats-server, so restarting it disturbs no other test. */
function startServer(port: number, storeDir: string): ChildProcess {
  return spawn(NATS_BINARY, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir], {
    stdio: "ignore",
  });
}

const servers: ChildProcess[] = [];
afterAll(async () => {
  for (const s of servers) await stopProcess(s);
});

describe.skipIf(!haveNats)("NATS source across a server restart", () => {
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

      await stopProcess(server);
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

  it("gives up after maxOutageMs of outage with one clear error naming the broker, for reads and acks", async () => {
    const port = await freePort();
    const url = `nats://127.0.0.1:${port}/outage_events`;
    const server = startServer(port, tempDir("mldeploy-nats-"));
    servers.push(server);
    await waitForPort(port);
    const source = openNatsSource(url, { group: "g", consumer: "c" }, { maxOutageMs: 1500 });
    const sink = openNatsSink(url);
    await source.open();
    await sink.open();
    try {
      await sink.publish([{ data: payload(1) }]);
      const got = await source.read({ maxMessages: 1, maxWaitMs: 2000 });
      expect(got).toHaveLength(1);
      await stopProcess(server);
      const started = Date.now();
      // Reads return nothing while the outage lasts, then fail.
      let failure: unknown;
      while (failure === undefined && Date.now() - started < 10_000) {
        try {
          expect(await source.read({ maxMessages: 1, maxWaitMs: 100 })).toEqual([]);
        } catch (err) {
          failure = err;
        }
      }
      expect(failure).toBeInstanceOf(UnreachableError);
      expect(String((failure as Error).message)).toMatch(
        new RegExp(`127\\.0\\.0\\.1:${port}.*: broker unavailable for over 1500 ms`),
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
      await expect(source.ack(got)).rejects.toThrow(/ack: broker unavailable for over 1500 ms/);
      await expect(source.ack(got)).rejects.toBeInstanceOf(UnreachableError);
    } finally {
      await source.close();
      await sink.close();
    }
  });
});
