/**
 * The Redis Streams URL form:
 *
 *   redis://[[user]:password@]host[:port]/<stream key>[?db=N&claim_idle_ms=MS]
 *   rediss://…                                   (TLS)
 *
 * e.g. `redis://127.0.0.1:6379/ride_events`. The path is the stream key (percent-decoded, so
 * any key can be written; `:` may stay literal: `/rides:in`), NOT the database number of the
 * usual ioredis URL: `redis://host/2` means the stream key "2". The database is chosen with
 * `?db=N` (default 0) because a stream URL must name its stream and the key is the part that
 * always differs. `claim_idle_ms` (sources only) is how long an entry read by a consumer but not
 * acknowledged stays with it before another consumer of the group takes it over (30 s).
 */

export interface RedisStreamTarget {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  tls: boolean;
  /** The stream key. */
  stream: string;
  /** `?claim_idle_ms=`: the source's takeover time for idle pending entries, when given. */
  claimIdleMs?: number;
  /** The URL without credentials, for logs and errors. */
  description: string;
}

const DEFAULT_PORT = 6379;

export function parseRedisStreamUrl(url: string): RedisStreamTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`not a Redis stream URL: expected redis://host:port/<stream key>`);
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new Error(
      `not a Redis stream URL (${parsed.protocol}): expected redis://host:port/<stream key>`,
    );
  }
  // URL.hostname keeps the brackets of an IPv6 literal; the socket wants them off.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, "$1") || "127.0.0.1";
  const port = parsed.port === "" ? DEFAULT_PORT : Number(parsed.port);
  const stream = decodeURIComponent(parsed.pathname.replace(/^\//, ""));
  if (stream === "") {
    throw new Error(
      `Redis stream URL without a stream key: expected redis://${host}:${port}/<stream key>`,
    );
  }
  for (const name of parsed.searchParams.keys()) {
    if (name !== "db" && name !== "claim_idle_ms")
      throw new Error(`unknown Redis stream URL parameter "${name}" (known: db, claim_idle_ms)`);
  }
  const dbText = parsed.searchParams.get("db") ?? "0";
  if (!/^\d+$/.test(dbText))
    throw new Error(`Redis stream URL: db must be a number, got "${dbText}"`);
  const db = Number(dbText);

  const target: RedisStreamTarget = {
    host,
    port,
    db,
    tls: parsed.protocol === "rediss:",
    stream,
    description: `${parsed.protocol}//${parsed.host}/${encodeURIComponent(stream)}${db === 0 ? "" : `?db=${db}`}`,
  };
  const claimIdle = parsed.searchParams.get("claim_idle_ms");
  if (claimIdle !== null) {
    if (!/^\d+$/.test(claimIdle) || Number(claimIdle) < 1)
      throw new Error(
        `Redis stream URL: claim_idle_ms must be a positive number of milliseconds, got "${claimIdle}"`,
      );
    target.claimIdleMs = Number(claimIdle);
  }
  if (parsed.username !== "") target.username = decodeURIComponent(parsed.username);
  if (parsed.password !== "") target.password = decodeURIComponent(parsed.password);
  return target;
}
