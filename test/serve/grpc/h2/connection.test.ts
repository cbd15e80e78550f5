import net from "node:net";
import { afterEach, expect, it } from "vitest";
import { H2ServerConnection } from "../../../../src/serve/grpc/h2/connection.js";
import { encodeHeaderBlock } from "../../../../src/serve/grpc/h2/hpack.js";
import { ErrorCode, H2Connection, Type } from "./frames.js";

/**
 * The connection class on its own (a net server whose sockets it serves), for what needs a
 * setting the gRPC port fixes: the time a client has to send its preface.
 */

let server: net.Server | undefined;
afterEach(
  () => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())),
);

function listen(prefaceTimeoutMs: number): Promise<number> {
  server = net.createServer((socket) => {
    new H2ServerConnection(
      socket,
      {
        maxConcurrentStreams: 10,
        streamWindow: 65_535,
        connectionWindow: 65_535,
        maxHeaderListSize: 16_384,
        prefaceTimeoutMs,
      },
      (stream) => stream.respond(encodeHeaderBlock([[":status", "204"]])),
    );
  });
  return new Promise((resolve) =>
    server!.listen(0, "127.0.0.1", () => resolve((server!.address() as net.AddressInfo).port)),
  );
}

it("a socket that sends no preface in time gets GOAWAY PROTOCOL_ERROR and is closed", async () => {
  const port = await listen(150);
  const socket = net.connect({ host: "127.0.0.1", port });
  const received: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => received.push(chunk));
  const started = performance.now();
  await new Promise((resolve) => socket.once("close", resolve));
  expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  // Its SETTINGS, then a GOAWAY (type 7) whose error code is PROTOCOL_ERROR.
  const bytes = Buffer.concat(received);
  const goaway = bytes.indexOf(Buffer.from([Type.GOAWAY, 0, 0, 0, 0, 0]), 3);
  expect(goaway).toBeGreaterThan(0);
  expect(bytes.readUInt32BE(goaway + 10)).toBe(ErrorCode.PROTOCOL_ERROR);
});

it("a client that sent its preface and SETTINGS is not closed by that timer", async () => {
  const port = await listen(100);
  const connection = await H2Connection.ready(port);
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(connection.goaways()).toEqual([]);
  connection.close();
});
