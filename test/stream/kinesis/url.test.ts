import { describe, expect, it } from "vitest";
import { UserError } from "../../../src/config/errors.js";
import { connectKinesis } from "../../../src/stream/kinesis/client.js";
import { parseKinesisUrl } from "../../../src/stream/kinesis/url.js";

function error(url: string): UserError {
  try {
    parseKinesisUrl(url);
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return err as UserError;
  }
  throw new Error(`parsed: ${url}`);
}

describe("kinesis:// URLs", () => {
  it("takes the stream name from the host part, keeping its case", () => {
    const target = parseKinesisUrl("kinesis://Ride_Events.v2-x");
    expect(target).toEqual({
      stream: "Ride_Events.v2-x",
      create: false,
      shards: 1,
      description: "kinesis://Ride_Events.v2-x",
    });
    expect(parseKinesisUrl("kinesis://ride_events/").stream).toBe("ride_events");
  });

  it("reads every setting", () => {
    const target = parseKinesisUrl(
      "kinesis://rides?endpoint=http://127.0.0.1:4567/&region=eu-west-1&create=true&shards=4" +
        "&checkpoints=postgres://u:secret@db/x?schema=ck&lease_ms=2000&poll_ms=50",
    );
    expect(target).toEqual({
      stream: "rides",
      endpoint: "http://127.0.0.1:4567",
      region: "eu-west-1",
      create: true,
      shards: 4,
      checkpoints: "postgres://u:secret@db/x?schema=ck",
      leaseMs: 2000,
      pollMs: 50,
      description: "kinesis://rides at http://127.0.0.1:4567",
    });
    expect(parseKinesisUrl("kinesis://r?checkpoints=sqlite:./ck.db").checkpoints).toBe(
      "sqlite:./ck.db",
    );
    expect(parseKinesisUrl("kinesis://r?create=0").create).toBe(false);
  });

  it("names the bad part in a UserError", () => {
    expect(error("nats://x/y").message).toMatch(/not a Kinesis stream URL \(nats:\)/);
    expect(error("kinesis://").message).toMatch(/without a stream name/);
    expect(error("kinesis://a!b").message).toMatch(/invalid Kinesis stream name "a!b"/);
    expect(error(`kinesis://${"a".repeat(129)}`).message).toMatch(/1-128/);
    expect(error("kinesis://rides/extra").message).toMatch(/stream name is the only part/);
    expect(error("kinesis://rides:4567").message).toMatch(/stream name is the only part/);
    expect(error("kinesis://key:secret@rides").message).toMatch(/credentials/);
    expect(error("kinesis://rides?shards=0").message).toMatch(/shards must be an integer from 1/);
    expect(error("kinesis://rides?shards=2.5").message).toMatch(/shards .* got "2.5"/);
    expect(error("kinesis://rides?lease_ms=10").message).toMatch(/lease_ms .* from 300/);
    expect(error("kinesis://rides?create=yes").message).toMatch(/create must be true or false/);
    expect(error("kinesis://rides?endpoint=localhost:4567").message).toMatch(
      /endpoint must be an http\(s\) URL/,
    );
    expect(error("kinesis://rides?region=EU%20West").message).toMatch(/region must look like/);
    expect(error("kinesis://rides?stream=x").message).toMatch(
      /unknown Kinesis URL setting "stream" \(known: endpoint, region/,
    );
    const checkpoints = error("kinesis://rides?checkpoints=mysql://u:pw@h/db").message;
    expect(checkpoints).toMatch(/checkpoints must be sqlite:<file> or postgres:/);
    expect(checkpoints).not.toContain("pw");
  });
});

describe("Kinesis endpoint and region", () => {
  const target = parseKinesisUrl("kinesis://rides");
  const where = (env: NodeJS.ProcessEnv, url = target) => {
    const connection = connectKinesis(url, env);
    connection.client.destroy();
    return connection.where;
  };

  it("follows the SDK's variables: AWS_ENDPOINT_URL_KINESIS, then AWS_ENDPOINT_URL", async () => {
    expect(where({ AWS_ENDPOINT_URL_KINESIS: "http://a:1", AWS_ENDPOINT_URL: "http://b:2" })).toBe(
      "http://a:1 (from AWS_ENDPOINT_URL_KINESIS)",
    );
    expect(where({ AWS_ENDPOINT_URL: "http://b:2" })).toBe("http://b:2 (from AWS_ENDPOINT_URL)");
    expect(
      where({ AWS_ENDPOINT_URL: "http://b:2", AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: "true" }),
    ).toBe("AWS (region from the AWS profile)");
    expect(where({ AWS_REGION: "eu-west-1" })).toBe("AWS (eu-west-1)");
    expect(where({ AWS_DEFAULT_REGION: "eu-north-1" })).toBe("AWS (eu-north-1)");
    expect(
      where({ AWS_ENDPOINT_URL: "http://b:2" }, parseKinesisUrl("kinesis://r?endpoint=http://c:3")),
    ).toBe("http://c:3 (from URL)");
    expect(() => where({ AWS_ENDPOINT_URL_KINESIS: "b:2" })).toThrow(
      /Kinesis endpoint "b:2" \(from AWS_ENDPOINT_URL_KINESIS\) is not an http\(s\) URL/,
    );
    // The region the client will sign for: the URL's, else AWS_REGION, else the local default.
    const region = async (env: NodeJS.ProcessEnv, url = target) => {
      const { client } = connectKinesis(url, env);
      const value = await client.config.region();
      client.destroy();
      return value;
    };
    expect(await region({ AWS_ENDPOINT_URL: "http://b:2" })).toBe("us-east-1");
    expect(
      await region({ AWS_REGION: "eu-west-1" }, parseKinesisUrl("kinesis://r?region=ap-south-1")),
    ).toBe("ap-south-1");
  });
});
