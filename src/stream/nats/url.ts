/**
 * `nats://[user:pass@|token@]host[:port]/<stream>[?ack_wait_ms=…&max_ack_pending=…]`.
 *
 * The path names the JetStream stream, and the stream's subject is the same name, so one
 * string identifies both where the sink publishes and what the source reads.
 */

export interface NatsTarget {
  /** `host:port`, as nats.js expects in `servers`. */
  server: string;
  stream: string;
  user?: string;
  pass?: string;
  token?: string;
  /** Query settings for the source's durable consumer; undefined = the defaults. */
  ackWaitMs?: number;
  maxAckPending?: number;
}

const DEFAULT_PORT = 4222;

/**
 * Stream names double as subjects here, so they must be a single subject token: no dots
 * (token separator), wildcards or whitespace, which JetStream would reject or misroute.
 */
const STREAM_NAME = /^[A-Za-z0-9_-]+$/;

export function parseNatsUrl(url: string): NatsTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`invalid NATS URL: ${redact(url)}`);
  }
  if (parsed.protocol !== "nats:") {
    throw new Error(`not a NATS URL (expected nats://host:port/<stream>): ${redact(url)}`);
  }
  if (!parsed.hostname) throw new Error(`NATS URL without a host: ${redact(url)}`);
  const stream = decodeURIComponent(parsed.pathname.replace(/^\/+/, "").replace(/\/+$/, ""));
  if (!stream) throw new Error(`NATS URL without a stream name (nats://host:port/<stream>)`);
  if (!STREAM_NAME.test(stream)) {
    throw new Error(
      `invalid JetStream stream name "${stream}": use letters, digits, "_" and "-" only`,
    );
  }

  const target: NatsTarget = {
    server: `${parsed.hostname}:${parsed.port || DEFAULT_PORT}`,
    stream,
  };
  const user = decodeURIComponent(parsed.username);
  const pass = decodeURIComponent(parsed.password);
  // nats://secret@host is the NATS convention for a token; user:pass is a user login.
  if (user && pass) {
    target.user = user;
    target.pass = pass;
  } else if (user) {
    target.token = user;
  }

  for (const [key, value] of parsed.searchParams) {
    if (key === "ack_wait_ms") target.ackWaitMs = positiveInt(key, value);
    else if (key === "max_ack_pending") target.maxAckPending = positiveInt(key, value);
    else throw new Error(`unknown NATS URL setting "${key}" (ack_wait_ms, max_ack_pending)`);
  }
  return target;
}

/** What logs and errors may show: never the credentials. */
export function describeTarget(target: NatsTarget): string {
  return `nats://${target.server}/${target.stream}`;
}

function positiveInt(key: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) {
    throw new Error(`NATS URL setting ${key} must be a positive integer, got "${value}"`);
  }
  return n;
}

/** Drops the user-info part of a URL that failed to parse, so errors leak no secret. */
function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}
