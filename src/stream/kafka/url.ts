import { UserError } from "../../config/errors.js";

/**
 * The Kafka URL form:
 *
 *   kafka://[user:password@]host[:port][,host2[:port]…]/<topic>[?setting=value&…]
 *
 * e.g. `kafka://127.0.0.1:9092/ride_events` or
 * `kafka://app:s3cret@b1:9093,b2:9093/ride_events?ssl=true&sasl=scram-sha-512`.
 *
 * The host list is the bootstrap brokers (kafkajs discovers the rest of the cluster from
 * them). It is parsed by hand: WHATWG `new URL()` cannot read a comma-separated host list.
 * Settings carry the names kafkajs and the Kafka docs use (clientId, sessionTimeout …), so
 * a Kafka user recognises them:
 *
 * - clientId=NAME            client.id sent to the brokers (default "mldeploy")
 * - ssl=true                 TLS to the brokers (default false)
 * - sasl=plain|scram-sha-256|scram-sha-512   SASL login with the URL's user and password
 * - create=true              create the topic if it does not exist (else a missing topic is an error)
 * - partitions=N             partitions of a topic created by create=true (default 1)
 * - replicationFactor=N      replication of a created topic (default: the broker's default)
 * - maxInFlight=N            source: messages fetched but not yet acked before fetching pauses (default 1000)
 * - sessionTimeout=MS        source: group session timeout (default 30000; the broker enforces 6000..300000)
 * - heartbeatInterval=MS     source: heartbeat interval (default 3000); also how soon a rebalance is noticed
 * - idempotent=false         sink: turn off the idempotent producer (default on; see sink.ts)
 */

export type SaslMechanism = "plain" | "scram-sha-256" | "scram-sha-512";

export interface KafkaTarget {
  /** Bootstrap brokers as `host:port`, as kafkajs expects them. */
  brokers: string[];
  topic: string;
  clientId: string;
  ssl: boolean;
  sasl?: { mechanism: SaslMechanism; username: string; password: string };
  /** Create the topic when missing, with this many partitions and this replication. */
  create?: { partitions: number; replicationFactor?: number };
  maxInFlight: number;
  sessionTimeout?: number;
  heartbeatInterval?: number;
  idempotent: boolean;
  /** The URL without credentials, for logs and errors. */
  description: string;
}

const DEFAULT_PORT = 9092;
const DEFAULT_CLIENT_ID = "mldeploy";
const DEFAULT_MAX_IN_FLIGHT = 1000;
const MECHANISMS: readonly SaslMechanism[] = ["plain", "scram-sha-256", "scram-sha-512"];
const SETTINGS = [
  "clientId",
  "ssl",
  "sasl",
  "create",
  "partitions",
  "replicationFactor",
  "maxInFlight",
  "sessionTimeout",
  "heartbeatInterval",
  "idempotent",
] as const;

/** Kafka's own rule for topic names (kafka.common.internals.Topic): at most 249 of these. */
const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;
/** client.id is free text for Kafka, but it ends up in logs and metrics: keep it tame. */
const CLIENT_ID = /^[A-Za-z0-9._-]{1,255}$/;

const FORM = "kafka://host:9092[,host2:9092]/<topic>";

export function parseKafkaUrl(url: string): KafkaTarget {
  const match = /^kafka:\/\/(?:([^@/?#]*)@)?([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/i.exec(url.trim());
  if (!match) {
    throw new UserError(`not a Kafka URL (expected ${FORM}): ${redact(url)}`);
  }
  const [, userInfo, hostList, path = "", query = ""] = match;
  const brokers = parseBrokers(hostList, url);
  const topic = parseTopic(path, brokers);
  const settings = parseSettings(query);

  const clientId = settings.get("clientId") ?? DEFAULT_CLIENT_ID;
  if (!CLIENT_ID.test(clientId)) {
    throw new UserError(
      `Kafka URL setting clientId must be letters, digits, ".", "_" or "-", got "${clientId}"`,
    );
  }
  const target: KafkaTarget = {
    brokers,
    topic,
    clientId,
    ssl: bool(settings, "ssl", false),
    maxInFlight: positiveInt(settings, "maxInFlight") ?? DEFAULT_MAX_IN_FLIGHT,
    sessionTimeout: positiveInt(settings, "sessionTimeout"),
    heartbeatInterval: positiveInt(settings, "heartbeatInterval"),
    idempotent: bool(settings, "idempotent", true),
    description: `kafka://${brokers.join(",")}/${topic}`,
  };
  if (
    target.sessionTimeout !== undefined &&
    target.heartbeatInterval !== undefined &&
    target.heartbeatInterval >= target.sessionTimeout
  ) {
    throw new UserError(
      `Kafka URL: heartbeatInterval (${target.heartbeatInterval}) must be lower than sessionTimeout (${target.sessionTimeout})`,
    );
  }

  const partitions = positiveInt(settings, "partitions");
  const replicationFactor = positiveInt(settings, "replicationFactor");
  if (bool(settings, "create", false)) {
    target.create = { partitions: partitions ?? 1, replicationFactor };
  } else if (partitions !== undefined || replicationFactor !== undefined) {
    // Without create=true they would silently do nothing: the topic is used as it is.
    throw new UserError(
      `Kafka URL: partitions and replicationFactor only apply with create=true (${target.description})`,
    );
  }

  const sasl = parseSasl(settings.get("sasl"), userInfo, target.description);
  if (sasl) target.sasl = sasl;
  return target;
}

function parseBrokers(hostList: string, url: string): string[] {
  if (hostList === "") throw new UserError(`Kafka URL without a broker (expected ${FORM})`);
  return hostList.split(",").map((entry) => {
    if (entry.trim().startsWith("[")) {
      // kafkajs splits "host:port" at the first colon, so it cannot reach an IPv6 literal.
      throw new UserError(
        `Kafka broker "${entry}": IPv6 addresses are not supported here, use a host name`,
      );
    }
    const m = /^([A-Za-z0-9._-]+)(?::(\d{1,5}))?$/.exec(entry.trim());
    const port = m?.[2] === undefined ? DEFAULT_PORT : Number(m[2]);
    if (!m || port < 1 || port > 65535) {
      throw new UserError(
        `invalid Kafka broker "${entry}" in ${redact(url)}: expected host or host:port`,
      );
    }
    return `${m[1]}:${port}`;
  });
}

function parseTopic(path: string, brokers: string[]): string {
  let topic: string;
  try {
    topic = decodeURIComponent(path.replace(/^\/+/, "").replace(/\/+$/, ""));
  } catch {
    throw new UserError(`Kafka URL: bad percent-encoding in the topic "${path}"`);
  }
  if (topic === "") {
    throw new UserError(`Kafka URL without a topic: expected kafka://${brokers[0]}/<topic>`);
  }
  if (!TOPIC_NAME.test(topic) || topic === "." || topic === "..") {
    throw new UserError(
      `invalid Kafka topic name "${topic}": use letters, digits, ".", "_" and "-" only (at most 249)`,
    );
  }
  return topic;
}

function parseSettings(query: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const [key, value] of new URLSearchParams(query)) {
    if (!(SETTINGS as readonly string[]).includes(key)) {
      throw new UserError(`unknown Kafka URL setting "${key}" (known: ${SETTINGS.join(", ")})`);
    }
    if (settings.has(key)) throw new UserError(`Kafka URL setting "${key}" given twice`);
    settings.set(key, value);
  }
  return settings;
}

function parseSasl(
  mechanism: string | undefined,
  userInfo: string | undefined,
  description: string,
): KafkaTarget["sasl"] {
  let username = "";
  let password = "";
  if (userInfo !== undefined && userInfo !== "") {
    const colon = userInfo.indexOf(":");
    try {
      username = decodeURIComponent(colon < 0 ? userInfo : userInfo.slice(0, colon));
      password = decodeURIComponent(colon < 0 ? "" : userInfo.slice(colon + 1));
    } catch {
      throw new UserError(
        `Kafka URL: bad percent-encoding in the user or password (${description})`,
      );
    }
  }
  if (mechanism === undefined) {
    if (username !== "" || password !== "") {
      // Guessing "plain" could send a password in clear text to a broker expecting SCRAM.
      throw new UserError(
        `Kafka URL has a user and password but no SASL mechanism: add ?sasl=${MECHANISMS.join("|")} (${description})`,
      );
    }
    return undefined;
  }
  const lower = mechanism.toLowerCase();
  if (!(MECHANISMS as readonly string[]).includes(lower)) {
    throw new UserError(
      `Kafka URL setting sasl must be one of ${MECHANISMS.join(", ")}, got "${mechanism}"`,
    );
  }
  if (username === "" || password === "") {
    throw new UserError(
      `Kafka URL with sasl=${lower} needs user:password@ before the brokers (${description})`,
    );
  }
  return { mechanism: lower as SaslMechanism, username, password };
}

function bool(settings: Map<string, string>, key: string, fallback: boolean): boolean {
  const value = settings.get(key);
  if (value === undefined) return fallback;
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw new UserError(`Kafka URL setting ${key} must be true or false, got "${value}"`);
}

function positiveInt(settings: Map<string, string>, key: string): number | undefined {
  const value = settings.get(key);
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) {
    throw new UserError(`Kafka URL setting ${key} must be a positive integer, got "${value}"`);
  }
  return n;
}

/** Drops the user-info part of a URL, so errors leak no password. */
function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}
