import { randomBytes } from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll } from "vitest";
import type { StreamMessage, StreamSource } from "../../../src/stream/types.js";
import {
  startKinesalite,
  useKinesaliteEnv,
  type KinesaliteServer,
} from "../../helpers/kinesalite.js";
import { tempDir } from "../../helpers/temp.js";

/**
 * One kinesalite per test file (started in beforeAll, stopped in afterAll) and one temp dir
 * for the checkpoint files. `url()` builds kinesis:// URLs against it.
 */
export function kinesisFixture(): {
  server: () => KinesaliteServer;
  dir: () => string;
  url: (stream: string, settings?: Record<string, string | number | boolean>) => string;
} {
  let server: KinesaliteServer | undefined;
  let dir = "";
  beforeAll(async () => {
    useKinesaliteEnv();
    server = await startKinesalite();
    dir = tempDir("mldeploy-kinesis-");
  });
  afterAll(async () => {
    await server?.stop();
  });
  return {
    server: () => server!,
    dir: () => dir,
    url: (stream, settings = {}) => {
      const query = new URLSearchParams({
        endpoint: server!.endpoint,
        poll_ms: "20",
        checkpoints: `sqlite:${path.join(dir, "checkpoints.db")}`,
        ...Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, String(v)])),
      });
      return `kinesis://${stream}?${query.toString()}`;
    },
  };
}

export const uniqueName = (label: string): string => `${label}_${randomBytes(4).toString("hex")}`;

export const enc = (text: string): Uint8Array => new TextEncoder().encode(text);
export const dec = (m: StreamMessage): string => new TextDecoder().decode(m.data);

/** Reads (and optionally acks) until `n` messages arrived or the deadline passed. */
export async function readN(
  from: StreamSource,
  n: number,
  options: { timeoutMs?: number; ack?: boolean } = {},
): Promise<StreamMessage[]> {
  const got: StreamMessage[] = [];
  const deadline = Date.now() + (options.timeoutMs ?? 5_000);
  while (got.length < n && Date.now() < deadline) {
    const batch = await from.read({ maxMessages: n - got.length, maxWaitMs: 100 });
    got.push(...batch);
    if (options.ack !== false) await from.ack(batch);
  }
  return got;
}

/** Polls `check` every 50 ms until true; false after the timeout. */
export async function eventually(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}
