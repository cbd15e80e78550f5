/** NATS JetStream transport: `nats://host:port/<stream>` (see url.ts for the URL settings). */
export { NatsSink, openNatsSink } from "./sink.js";
export { NatsSource, openNatsSource, type NatsSourceOptions } from "./source.js";
export { parseNatsUrl, describeTarget, type NatsTarget } from "./url.js";
