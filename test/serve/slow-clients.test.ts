import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postJson, RIDES, startTestServer, type TestServer } from "./helpers/server.js";

/**
 * Slow clients hold real sockets open against a real server: each must be answered 408 or
 * closed once the (short, for the test) headers/request timeouts pass, not kept for good.
 */
const HEADERS_TIMEOUT_MS = 300;
const REQUEST_TIMEOUT_MS = 600;
/** Time allowed past the timeout: node checks connections on an interval, and the host is shared. */
const SLACK_MS = 4000;

let server: TestServer;
let port: number;
beforeAll(async () => {
  server = await startTestServer({
    headersTimeoutMs: HEADERS_TIMEOUT_MS,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
  });
  port = Number(new URL(server.url).port);
});
afterAll(async () => {
  await server?.close();
});

interface Outcome {
  /** What the server wrote before closing (a 408 answer, or nothing). */
  received: string;
  /** Milliseconds from the first byte sent until the server closed the connection. */
  closedAfterMs: number;
}

/** Opens a socket, writes `data`, then waits (at most `giveUpMs`) for the server to close it. */
function holdOpen(data: string, giveUpMs: number): Promise<Outcome | "still open"> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, "127.0.0.1");
    let received = "";
    let started = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve("still open");
    }, giveUpMs);
    socket.setEncoding("utf8");
    socket.on("connect", () => {
      started = performance.now();
      socket.write(data);
    });
    socket.on("data", (chunk: string) => (received += chunk));
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ received, closedAfterMs: performance.now() - started });
    });
    socket.on("timeout", () => reject(new Error("unexpected")));
  });
}

const post = (headers: string) =>
  `POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${headers}\r\n`;

describe("slow clients", () => {
  it("50 sockets that send one byte of a 100-byte body are answered 408 and closed", async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, () =>
        holdOpen(post("Content-Length: 100\r\n") + "{", REQUEST_TIMEOUT_MS + SLACK_MS),
      ),
    );
    for (const outcome of outcomes) {
      expect(outcome).not.toBe("still open");
      if (outcome === "still open") continue;
      expect(outcome.received).toMatch(/^HTTP\/1\.1 408 /);
      expect(outcome.closedAfterMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
    }
  });

  it("a chunked body announcing ffffffffffffffff bytes does not keep its socket", async () => {
    const outcome = await holdOpen(
      post("Transfer-Encoding: chunked\r\n") + "ffffffffffffffff\r\n{",
      REQUEST_TIMEOUT_MS + SLACK_MS,
    );
    expect(outcome).not.toBe("still open");
    if (outcome !== "still open") expect(outcome.received).toMatch(/^HTTP\/1\.1 (408|400|413) /);
  });

  it("sockets that never finish their headers are closed after the headers timeout", async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        holdOpen(i % 2 ? "" : "POST /predict HTTP/1.1\r\nHost: 127", REQUEST_TIMEOUT_MS + SLACK_MS),
      ),
    );
    for (const outcome of outcomes) {
      expect(outcome).not.toBe("still open");
      if (outcome !== "still open")
        expect(outcome.closedAfterMs).toBeLessThan(REQUEST_TIMEOUT_MS + SLACK_MS);
    }
    // The server itself is fine.
    expect((await postJson(`${server.url}/predict`, RIDES[0])).status).toBe(200);
  });
});
