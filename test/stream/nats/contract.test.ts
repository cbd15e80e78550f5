import { openNatsSink, openNatsSource } from "../../../src/stream/nats/index.js";
import { describeTransportContract } from "../contract.js";
import { adminJsm, streamUrl, uniqueStream } from "./helpers.js";

/** Unacked messages come back after ack_wait: 1 s instead of the default 30 s. */
const ACK_WAIT_MS = 1000;

// Streams come from uniqueStream(), which helpers.ts deletes after the file.
describeTransportContract("NATS JetStream", {
  newStream: () => uniqueStream("contract"),
  source: (stream, settings) =>
    openNatsSource(streamUrl(stream, `?ack_wait_ms=${ACK_WAIT_MS}`), settings),
  sink: (stream) => openNatsSink(streamUrl(stream)),
  redeliveryMs: ACK_WAIT_MS,
  storedCount: async (stream) => (await (await adminJsm()).streams.info(stream)).state.messages,
});
