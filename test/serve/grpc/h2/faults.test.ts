import net from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { grpcHeaderBlock, RawH2Connection } from "../../../../src/bench/h2-client.js";
import { createLogger } from "../../../../src/log/logger.js";
import { inferenceService } from "../../../../src/serve/grpc/proto.js";
import type { ModelInferResponse } from "../../../../src/serve/grpc/messages.js";
import { startServing, type ServeInstance } from "../../../../src/serve/one-process.js";
import { parseServeOptions } from "../../../../src/serve/options.js";
import { rideBundlePath } from "../../../helpers/ride-bundle.js";
import { freePort } from "../free-port.js";
import {
  Flag,
  frame,
  grpcHeaders,
  grpcMessage,
  INFER_PATH,
  literalBlock,
  PREFACE,
  rstStream,
  settingsFrame,
  Type,
  windowUpdate,
} from "./frames.js";

/**
 * Faults on the gRPC port's own HTTP/2 layer, bounded (400 broken connections, a few seconds):
 * while a well-behaved client keeps calling, other clients send a valid call's bytes cut at a
 * random point, or with random bytes changed, then vanish (socket destroyed) or stay. Every
 * good call is answered right, the server keeps running, and a graceful stop right after
 * does not wait for anything the broken connections left behind.
 */

let instance: ServeInstance;
let port: number;

beforeAll(async () => {
  port = await freePort();
  const bundle = await rideBundlePath();
  instance = await startServing(
    parseServeOptions({ model: bundle, port: 0, grpcPort: port, workers: 1 }),
    [{ path: bundle, servedName: "ride-duration" }],
    { logger: createLogger({ level: "silent" }), announce: false },
  );
}, 60_000);
afterAll(async () => {
  await instance?.close();
});

function inferMessage(rows: number): Buffer {
  const column = (name: string, datatype: string, contents: Record<string, number[]>) => ({
    name,
    datatype,
    shape: [rows],
    contents,
  });
  return grpcMessage(
    inferenceService().ModelInfer.requestSerialize({
      model_name: "ride-duration",
      inputs: [
        column("PULocationID", "INT64", { int64_contents: Array(rows).fill(10) }),
        column("DOLocationID", "INT64", { int64_contents: Array(rows).fill(50) }),
        column("trip_distance", "FP64", { fp64_contents: Array(rows).fill(4.5) }),
      ],
    }),
  );
}

/** A whole client exchange: preface, SETTINGS, calls on streams 1, 3, 5, a reset, more window. */
function validBytes(): Buffer {
  const headers = literalBlock(grpcHeaders(port, INFER_PATH));
  const parts = [PREFACE, settingsFrame(), windowUpdate(0, 1 << 20)];
  for (const [stream, rows] of [
    [1, 1],
    [3, 1500],
    [5, 3],
  ]) {
    parts.push(frame(Type.HEADERS, Flag.END_HEADERS, stream, headers));
    const body = inferMessage(rows);
    for (let at = 0; at < body.length; at += 16_384) {
      const end = Math.min(body.length, at + 16_384);
      parts.push(
        frame(Type.DATA, end === body.length ? Flag.END_STREAM : 0, stream, body.subarray(at, end)),
      );
    }
  }
  parts.push(frame(Type.HEADERS, Flag.END_HEADERS, 7, headers), rstStream(7, 8));
  return Buffer.concat(parts);
}

/** A seeded generator: the same faults on every run. */
function random(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

/** One broken client: connects, writes `bytes` in a few pieces, then destroys or ends. */
function brokenClient(bytes: Buffer, next: () => number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.on("error", () => {});
    socket.on("data", () => {});
    socket.once("close", () => resolve());
    socket.once("connect", () => {
      const cut = Math.max(1, Math.floor(next() * 4) + 1);
      let at = 0;
      for (let i = 0; i < cut && at < bytes.length; i++) {
        const end =
          i === cut - 1
            ? bytes.length
            : Math.min(bytes.length, at + 1 + Math.floor(next() * bytes.length));
        socket.write(bytes.subarray(at, end));
        at = end;
      }
      if (next() < 0.7) socket.destroy();
      else socket.end();
      // A server that keeps the half-closed socket gets it cut here (the test checks the stop).
      setTimeout(() => socket.destroy(), 300).unref();
    });
  });
}

it("400 broken or corrupted connections while a good client calls: every good call right, a prompt graceful stop after", async () => {
  const valid = validBytes();
  const next = random(7);
  const good = await RawH2Connection.open("127.0.0.1", port);
  const headers = grpcHeaderBlock(`127.0.0.1:${port}`, INFER_PATH);
  const decode = (data: Buffer) =>
    inferenceService().ModelInfer.responseDeserialize(data.subarray(5)) as ModelInferResponse;
  const reference = decode((await good.call(headers, inferMessage(1))).data);
  let broken = 0;
  let answered = 0;
  const breaking = (async () => {
    for (let round = 0; round < 40; round++) {
      await Promise.all(
        Array.from({ length: 10 }, () => {
          const bytes = Buffer.from(valid.subarray(0, 1 + Math.floor(next() * valid.length)));
          // Half of them also have a few random bytes changed (frame headers, HPACK, protobuf).
          if (next() < 0.5)
            for (let i = 0; i < 1 + Math.floor(next() * 4); i++)
              bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256);
          broken++;
          return brokenClient(bytes, next);
        }),
      );
    }
  })();
  const calling = (async () => {
    for (let i = 0; i < 200; i++) {
      const answer = decode((await good.call(headers, inferMessage(1 + (i % 3)))).data);
      expect(answer.outputs[0].shape).toEqual([1 + (i % 3)]);
      expect(answer.outputs[0].contents?.fp64_contents?.[0]).toBe(
        reference.outputs[0].contents?.fp64_contents?.[0],
      );
      answered++;
    }
  })();
  await Promise.all([breaking, calling]);
  good.close();
  expect(broken).toBe(400);
  expect(answered).toBe(200);
  const started = performance.now();
  await instance.close();
  // The shutdown timeout is 10 s: nothing a broken connection left may hold the stop that long.
  expect(performance.now() - started).toBeLessThan(3000);
}, 60_000);
