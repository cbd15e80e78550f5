import { UnreachableError } from "../../config/errors.js";
import {
  connect,
  Events,
  NatsError,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  type StreamInfo,
} from "nats";
import { subjectMatches } from "./subjects.js";
import type { NatsTarget } from "./url.js";

/** JetStream API error codes we branch on (see nats-server errors.json). */
export const STREAM_NOT_FOUND = 10059;
export const CONSUMER_NOT_FOUND = 10014;

export function apiErrorCode(err: unknown): number | undefined {
  return err instanceof NatsError ? err.api_error?.err_code : undefined;
}

export interface NatsHandle {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** False between a disconnect and the reconnect, so callers do not queue stale pulls. */
  isConnected(): boolean;
  /**
   * Calls `listener` at every disconnect, until the returned function is called. nats.js
   * drops what it had not written yet and never answers requests in flight, so waiters
   * (PubAcks, flushes) give up at once instead of at their timeout.
   */
  onDisconnect(listener: () => void): () => void;
}

export async function connectNats(target: NatsTarget, name: string): Promise<NatsHandle> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: target.server,
      name,
      user: target.user,
      pass: target.pass,
      token: target.token,
      // The consumer is a long-running service: never give up reconnecting; read() decides
      // how long an outage it tolerates before surfacing an error.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    });
  } catch (err) {
    throw new UnreachableError(
      `cannot connect to nats://${target.server}: ${(err as Error).message ?? String(err)}`,
      { cause: err },
    );
  }
  let connected = true;
  const listeners = new Set<() => void>();
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === Events.Disconnect) {
        connected = false;
        for (const listener of [...listeners]) listener();
      } else if (status.type === Events.Reconnect) connected = true;
    }
  })().catch(() => undefined);
  const jsm = await nc.jetstreamManager();
  return {
    nc,
    js: nc.jetstream(),
    jsm,
    isConnected: () => connected && !nc.isClosed(),
    onDisconnect(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/**
 * The stream named by the URL, created if missing (subject = name, file storage, limits
 * retention). An existing stream is accepted as it is, provided it captures the subject.
 */
export async function ensureStream(jsm: JetStreamManager, name: string): Promise<StreamInfo> {
  let info: StreamInfo | undefined;
  try {
    info = await jsm.streams.info(name);
  } catch (err) {
    if (apiErrorCode(err) !== STREAM_NOT_FOUND) throw err;
  }
  if (!info) {
    try {
      info = await jsm.streams.add({
        name,
        subjects: [name],
        storage: StorageType.File,
        retention: RetentionPolicy.Limits,
      });
    } catch (err) {
      // Another process may have created it between our info and add: accept theirs.
      try {
        info = await jsm.streams.info(name);
      } catch {
        throw err;
      }
    }
  }
  const subjects = info.config.subjects ?? [];
  if (!subjects.some((pattern) => subjectMatches(pattern, name))) {
    throw new Error(
      `JetStream stream "${name}" exists but does not capture subject "${name}" ` +
        `(its subjects: ${subjects.join(", ") || "none"})`,
    );
  }
  return info;
}

/** Closes after flushing what is queued (acks, naks); tolerates an already closed connection. */
export async function closeNats(nc: NatsConnection): Promise<void> {
  if (nc.isClosed()) return;
  try {
    await nc.drain();
  } catch {
    await nc.close();
  }
}
