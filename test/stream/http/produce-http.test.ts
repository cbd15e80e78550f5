/**
 * `mldeploy produce --to http://…`: JSON lines POSTed to a real HTTP server, one request each,
 * with retries of 5xx and a clear stop on a 4xx; and `sample-data --requests` writing the web
 * service's request lines with ride ids from --first-ride-id.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { HttpSink } from "../../../src/stream/http/sink.js";
import { runCli } from "../../helpers/cli.js";
import { tempDir } from "../../helpers/temp.js";

let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function body(request: IncomingMessage): Promise<string> {
  let text = "";
  for await (const chunk of request) text += String(chunk);
  return text;
}

/** A real HTTP server answering each request with `answer(body, n)`. */
async function listen(answer: (body: string, n: number) => number): Promise<{
  url: string;
  received: string[];
}> {
  const received: string[] = [];
  server = createServer((request, response) => {
    void body(request).then((text) => {
      received.push(text);
      const status = answer(text, received.length);
      response.writeHead(status, { "content-type": "application/json" });
      response.end(status < 300 ? '{"duration": 12.5}' : `{"error": "status ${status}"}`);
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/predict`, received };
}

describe("produce to HTTP", () => {
  it("posts every line once as a JSON body and reports the answers", async () => {
    const dir = await tempDir("produce-http-");
    const lines = Array.from({ length: 1200 }, (_, i) =>
      JSON.stringify({
        PULocationID: 1 + (i % 200),
        DOLocationID: 7,
        trip_distance: 1 + i / 100,
        ride_id: i,
      }),
    );
    await writeFile(path.join(dir, "requests.jsonl"), lines.join("\n") + "\n");
    const { url, received } = await listen(() => 200);
    const result = await runCli(["produce", "--to", url, "--file", "requests.jsonl"], { cwd: dir });
    expect(result.status).toBe(0);
    expect(result.stderr).toContain("published 1200 events");
    expect(result.stderr).toContain("1200 × 200");
    expect(
      received
        .map((text) => (JSON.parse(text) as { ride_id: number }).ride_id)
        .sort((a, b) => a - b),
    ).toEqual(lines.map((_, i) => i));
  }, 60_000);

  it("retries a 503 and stops on a 422 with the service's answer", async () => {
    const flaky = await listen((_, n) => (n <= 2 ? 503 : 200));
    const sink = new HttpSink(flaky.url);
    await sink.publish([{ data: new TextEncoder().encode('{"a":1}') }]);
    expect(flaky.received).toHaveLength(3);
    expect(sink.statuses.get(503)).toBe(2);
    await new Promise<void>((resolve) => server!.close(() => resolve()));

    const refusing = await listen(() => 422);
    const dir = await tempDir("produce-http-");
    const result = await runCli(["produce", "--to", refusing.url], {
      cwd: dir,
      input: '{"PULocationID": "x"}\n',
    });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("answered 422");
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(refusing.received).toHaveLength(1);
  }, 60_000);
});

describe("sample-data --requests", () => {
  it("writes request lines with ride ids counted from --first-ride-id, matching the SQLite rides", async () => {
    const dir = await tempDir("sample-requests-");
    const result = await runCli(
      [
        "sample-data",
        "--out",
        "data",
        "--months",
        "2021-03",
        "--rows",
        "200",
        "--requests",
        "requests.jsonl",
        "--sqlite",
        "rides.db",
        "--first-ride-id",
        "1000001",
      ],
      { cwd: dir },
    );
    expect(result.status).toBe(0);
    const requests = (await readFile(path.join(dir, "requests.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, number>);
    expect(requests).toHaveLength(200);
    expect(Object.keys(requests[0])).toEqual([
      "PULocationID",
      "DOLocationID",
      "trip_distance",
      "ride_id",
    ]);
    expect(requests.map((r) => r.ride_id)).toEqual(requests.map((_, i) => 1_000_001 + i));
    const { default: Database } = await import("better-sqlite3");
    const db = new Database(path.join(dir, "rides.db"), { readonly: true });
    try {
      const first = db
        .prepare("SELECT ride_id, PULocationID, trip_distance FROM rides ORDER BY ride_id LIMIT 1")
        .get() as Record<string, number>;
      expect(first.ride_id).toBe(1_000_001);
      expect(first.PULocationID).toBe(requests[0].PULocationID);
    } finally {
      db.close();
    }
  }, 60_000);
});
