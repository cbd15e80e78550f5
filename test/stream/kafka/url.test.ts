import { describe, expect, it } from "vitest";
import { UserError } from "../../../src/config/errors.js";
import { openStreamSink, openStreamSource } from "../../../src/stream/endpoints.js";
import { KafkaSink, KafkaSource, parseKafkaUrl } from "../../../src/stream/kafka/index.js";

/** The UserError a parse throws (the CLI prints its message as one line, exit status 2). */
function userError(url: string): UserError {
  try {
    parseKafkaUrl(url);
  } catch (err) {
    if (err instanceof UserError) return err;
    throw err;
  }
  throw new Error(`no error for ${url}`);
}

describe("Kafka URL", () => {
  it("takes the brokers and topic, with defaults", () => {
    expect(parseKafkaUrl("kafka://127.0.0.1:9092/ride_events")).toEqual({
      brokers: ["127.0.0.1:9092"],
      topic: "ride_events",
      clientId: "mldeploy",
      ssl: false,
      maxInFlight: 1000,
      sessionTimeout: undefined,
      heartbeatInterval: undefined,
      idempotent: true,
      description: "kafka://127.0.0.1:9092/ride_events",
    });
  });

  it("reads a broker list and defaults each port to 9092", () => {
    const target = parseKafkaUrl("kafka://b1,b2:9093, b3.example.com/rides.v1");
    expect(target.brokers).toEqual(["b1:9092", "b2:9093", "b3.example.com:9092"]);
    expect(target.topic).toBe("rides.v1");
    expect(target.description).toBe("kafka://b1:9092,b2:9093,b3.example.com:9092/rides.v1");
  });

  it("reads every setting", () => {
    const target = parseKafkaUrl(
      "kafka://h:9092/t?clientId=scorer-1&ssl=true&create=true&partitions=6&replicationFactor=3" +
        "&maxInFlight=200&sessionTimeout=10000&heartbeatInterval=1000&idempotent=false",
    );
    expect(target).toMatchObject({
      clientId: "scorer-1",
      ssl: true,
      create: { partitions: 6, replicationFactor: 3 },
      maxInFlight: 200,
      sessionTimeout: 10000,
      heartbeatInterval: 1000,
      idempotent: false,
    });
    expect(parseKafkaUrl("kafka://h/t?create=true").create).toEqual({
      partitions: 1,
      replicationFactor: undefined,
    });
  });

  it("logs in with SASL from the user info, and never describes the password", () => {
    const target = parseKafkaUrl("kafka://app:s3cr%40t@b1:9093,b2:9093/rides?sasl=SCRAM-SHA-512");
    expect(target.sasl).toEqual({
      mechanism: "scram-sha-512",
      username: "app",
      password: "s3cr@t",
    });
    expect(target.description).toBe("kafka://b1:9093,b2:9093/rides");
    expect(parseKafkaUrl("kafka://u:p@h/t?sasl=plain").sasl?.mechanism).toBe("plain");
  });

  it("rejects a missing broker or topic and bad names with clear errors", () => {
    expect(userError("kafka:///rides").message).toMatch(/without a broker/);
    expect(userError("kafka://h:9092").message).toMatch(
      /without a topic: expected kafka:\/\/h:9092\/<topic>/,
    );
    expect(userError("kafka://h:9092/").message).toMatch(/without a topic/);
    expect(userError("kafka://h/ride events").message).toMatch(
      /invalid Kafka topic name "ride events"/,
    );
    expect(userError("kafka://h/a:b").message).toMatch(/invalid Kafka topic name/);
    expect(userError("kafka://h/..").message).toMatch(/invalid Kafka topic name/);
    expect(userError(`kafka://h/${"x".repeat(250)}`).message).toMatch(/at most 249/);
    expect(userError("kafka://h:99999/t").message).toMatch(/invalid Kafka broker "h:99999"/);
    expect(userError("kafka://h:x/t").message).toMatch(/invalid Kafka broker "h:x"/);
    expect(userError("kafka://h,,g/t").message).toMatch(/invalid Kafka broker ""/);
    expect(userError("kafka://[::1]:9092/t").message).toMatch(/IPv6/);
    expect(userError("redis://h/t").message).toMatch(/not a Kafka URL/);
  });

  it("rejects unknown, repeated and malformed settings", () => {
    expect(userError("kafka://h/t?group=g").message).toMatch(
      /unknown Kafka URL setting "group" \(known: clientId, ssl, sasl/,
    );
    expect(userError("kafka://h/t?ssl=yes").message).toMatch(
      /ssl must be true or false, got "yes"/,
    );
    expect(userError("kafka://h/t?ssl=true&ssl=false").message).toMatch(/"ssl" given twice/);
    expect(userError("kafka://h/t?maxInFlight=0").message).toMatch(
      /maxInFlight must be a positive integer/,
    );
    expect(userError("kafka://h/t?create=true&partitions=1.5").message).toMatch(
      /partitions must be a positive integer/,
    );
    expect(userError("kafka://h/t?partitions=3").message).toMatch(/only apply with create=true/);
    expect(userError("kafka://h/t?clientId=a%20b").message).toMatch(/clientId must be/);
    expect(userError("kafka://h/t?sessionTimeout=3000&heartbeatInterval=3000").message).toMatch(
      /heartbeatInterval \(3000\) must be lower than sessionTimeout \(3000\)/,
    );
  });

  it("wants a SASL mechanism and credentials together, without leaking the password", () => {
    const noMechanism = userError("kafka://app:hunter2@h/t");
    expect(noMechanism.message).toMatch(
      /no SASL mechanism: add \?sasl=plain\|scram-sha-256\|scram-sha-512/,
    );
    expect(noMechanism.message).not.toContain("hunter2");
    expect(userError("kafka://h/t?sasl=plain").message).toMatch(/needs user:password@/);
    expect(userError("kafka://app@h/t?sasl=plain").message).toMatch(/needs user:password@/);
    expect(userError("kafka://u:p@h/t?sasl=gssapi").message).toMatch(/sasl must be one of plain/);
    expect(userError("kafka://app:hunter2@h:x/t").message).not.toContain("hunter2");
  });
});

describe("kafka:// in --source and --sink", () => {
  it("opens the Kafka transport (without connecting until open())", async () => {
    const source = await openStreamSource("kafka://127.0.0.1:9092/ride_events", {
      group: "ride-duration",
      consumer: "c1",
    });
    expect(source).toBeInstanceOf(KafkaSource);
    expect(source.description).toBe(
      "kafka://127.0.0.1:9092/ride_events (group ride-duration, consumer c1)",
    );
    const sink = await openStreamSink("kafka://u:pw@127.0.0.1:9092/ride_predictions?sasl=plain");
    expect(sink).toBeInstanceOf(KafkaSink);
    expect(sink.description).toBe("kafka://127.0.0.1:9092/ride_predictions");
  });

  it("reports a bad Kafka URL as a user error", async () => {
    await expect(openStreamSink("kafka://127.0.0.1:9092")).rejects.toBeInstanceOf(UserError);
  });

  it("fails open() with the broker address when nothing listens there", async () => {
    // Port 1 refuses at once; kafkajs still retries its connection a few times (~10 s).
    const sink = await openStreamSink("kafka://u:hunter2@127.0.0.1:1/t?sasl=plain");
    const error = await sink.open().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/^cannot connect to kafka:\/\/127\.0\.0\.1:1\/t: /);
    expect((error as Error).message).not.toContain("hunter2");
    await sink.close();
  }, 60_000);
});
