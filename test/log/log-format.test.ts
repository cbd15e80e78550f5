import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { decideLogFormat, shortenRecord } from "../../src/log/logger.js";
import { runCli } from "../helpers/cli.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";
import { HAS_SCRIPT, plainLines, runCliInTerminal } from "../helpers/terminal.js";

/** `[12:34:56] INFO: message {"a":1}`: pino-pretty's line with time HH:MM:ss and level. */
const PRETTY = /^\[\d\d:\d\d:\d\d\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL): \S/;
const JSON_RECORD = /^\{"level":/;

const sampleArgs = (dir: string) => [
  "sample-data",
  "--out",
  dir,
  "--months",
  "2021-01",
  "--rows",
  "50",
];

describe("the log format a setting of auto picks", () => {
  it("is pretty on a terminal and JSON on a pipe or file; json and pretty are kept", () => {
    expect(decideLogFormat("auto", { isTTY: true })).toBe("pretty");
    expect(decideLogFormat("auto", { isTTY: false })).toBe("json");
    expect(decideLogFormat("auto", {})).toBe("json");
    expect(decideLogFormat("json", { isTTY: true })).toBe("json");
    expect(decideLogFormat("pretty", {})).toBe("pretty");
  });

  it("pretty lines drop the fields the message already says, and long fractions", () => {
    expect(
      shortenRecord({
        level: 30,
        msg: "scored 200 rows at http://127.0.0.1:9696 for a->b",
        rows: 200,
        job: "a->b",
        worker: 1,
        port: 1,
        durationMs: 1657.4812769,
      }),
    ).toEqual({
      level: 30,
      msg: "scored 200 rows at http://127.0.0.1:9696 for a->b",
      worker: 1,
      port: 1,
      durationMs: 1657,
    });
  });
});

describe.skipIf(!HAS_SCRIPT)("logs on a terminal (util-linux script gives mldeploy a pty)", () => {
  it("serve with 2 workers: the primary's and the workers' lines are short and readable, in colour, no JSON", async () => {
    const bundle = await rideBundlePath();
    const result = await runCliInTerminal(
      [
        "serve",
        bundle,
        "--port",
        "0",
        "--workers",
        "2",
        "--log-level",
        "debug",
        "--poll-interval-ms",
        "0",
      ],
      { until: /serving .* with 2 workers at http/ },
    );
    expect(result.status, result.raw).toBe(0);
    expect(result.lines.filter((line) => line.includes('{"level":'))).toEqual([]);
    expect(result.lines.some((line) => /INFO: serving .* with 2 workers at http/.test(line))).toBe(
      true,
    );
    // Workers are other processes writing to the inherited terminal: they follow the primary.
    for (const worker of [1, 2]) {
      const lines = result.lines.filter((line) => line.includes(`"worker":${worker}`));
      expect(lines.length, result.raw).toBeGreaterThan(0);
      for (const line of lines) expect(line).toMatch(PRETTY);
    }
    expect(result.lines.at(-1)).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: stopped$/);
    expect(result.raw).toContain("\x1b[32mINFO"); // green level: colour on a terminal
  });

  it("sample-data prints readable lines by default", async () => {
    const dir = tempDir("mldeploy-log-");
    const result = await runCliInTerminal(sampleArgs(dir));
    expect(result.status, result.raw).toBe(0);
    expect(result.lines.filter((line) => JSON_RECORD.test(line))).toEqual([]);
    expect(result.lines.filter((line) => PRETTY.test(line)).join("\n")).toMatch(
      /INFO: sample data written \{"file":".*green_tripdata_2021-01.parquet","rows":50\}/,
    );
  });

  it("--log-format json on a terminal gives JSON lines, as containers expect", async () => {
    const dir = tempDir("mldeploy-log-");
    const result = await runCliInTerminal([...sampleArgs(dir), "--log-format", "json"]);
    expect(result.status, result.raw).toBe(0);
    expect(result.lines.filter((line) => PRETTY.test(line))).toEqual([]);
    const records = result.lines
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { level: number; msg: string; rows?: number });
    expect(records).toContainEqual(
      expect.objectContaining({ msg: "sample data written", rows: 50 }),
    );
  });

  it("logFormat: json from serve's config file section applies on a terminal", async () => {
    const bundle = await rideBundlePath();
    const dir = tempDir("mldeploy-log-");
    writeFileSync(path.join(dir, "mldeploy.config.yaml"), "serve:\n  logFormat: json\n");
    const result = await runCliInTerminal(
      ["serve", bundle, "--port", "0", "--workers", "1", "--poll-interval-ms", "0"],
      { cwd: dir, until: /"url":"http/ },
    );
    expect(result.status, result.raw).toBe(0);
    expect(result.lines.filter((line) => PRETTY.test(line))).toEqual([]);
    for (const line of result.lines) expect(() => JSON.parse(line), line).not.toThrow();
  });
});

describe("logs on a pipe", () => {
  it("stay JSON lines by default", async () => {
    const dir = tempDir("mldeploy-log-");
    const result = await runCli(sampleArgs(dir), { env: { MLDEPLOY_LOG_LEVEL: "info" } });
    expect(result.status, result.stderr).toBe(0);
    const lines = plainLines(result.stdout);
    const records = lines.filter((line) => line.startsWith("{"));
    expect(records.length).toBeGreaterThan(0);
    for (const line of records) expect(JSON.parse(line)).toHaveProperty("level", 30);
    expect(lines.filter((line) => PRETTY.test(line))).toEqual([]);
  });

  it("are readable with --log-format pretty (MLDEPLOY_LOG_FORMAT too), without colour codes", async () => {
    const dir = tempDir("mldeploy-log-");
    for (const [args, env] of [
      [[...sampleArgs(dir), "--log-format", "pretty"], {}],
      [sampleArgs(dir), { MLDEPLOY_LOG_FORMAT: "pretty" }],
    ] as const) {
      const result = await runCli([...args], { env: { MLDEPLOY_LOG_LEVEL: "info", ...env } });
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).not.toContain("\x1b[");
      const lines = plainLines(result.stdout);
      expect(lines.filter((line) => JSON_RECORD.test(line))).toEqual([]);
      expect(lines).toContainEqual(expect.stringMatching(/INFO: sample data written \{"file":/));
    }
  });
});

describe.concurrent("a bad log format is one line naming the setting, exit 2", () => {
  const cases: Array<[string, string[], NodeJS.ProcessEnv, RegExp]> = [
    [
      "--log-format on serve",
      ["serve", "x", "--log-format", "yaml"],
      {},
      /"logFormat" \(from --log-format\)/,
    ],
    [
      "--log-format on sample-data",
      ["sample-data", "--log-format", "yaml"],
      {},
      /"logFormat" \(from --log-format\)/,
    ],
    [
      "MLDEPLOY_LOG_FORMAT on train",
      ["train", "--train", "a", "--valid", "b"],
      { MLDEPLOY_LOG_FORMAT: "yaml" },
      /"logFormat" \(from MLDEPLOY_LOG_FORMAT\)/,
    ],
    [
      "MLDEPLOY_LOG_FORMAT on registry-server",
      ["registry-server"],
      { MLDEPLOY_LOG_FORMAT: "yaml" },
      /"logFormat" \(from MLDEPLOY_LOG_FORMAT\)/,
    ],
  ];
  for (const [name, args, env, expected] of cases) {
    it(name, async () => {
      const result = await runCli(args, { env });
      expect(result.status).toBe(2);
      expect(result.stderr.trim().split("\n")).toEqual([expect.stringMatching(expected)]);
      expect(result.stderr).toMatch(/mldeploy: error: .*(auto.*json.*pretty)/);
    });
  }

  it("logFormat in the config file", async () => {
    const dir = tempDir("mldeploy-log-");
    writeFileSync(path.join(dir, "mldeploy.config.yaml"), "registry-server:\n  logFormat: yaml\n");
    const result = await runCli(["registry-server"], { cwd: dir });
    expect(result.status).toBe(2);
    expect(result.stderr.trim().split("\n")).toEqual([
      expect.stringMatching(
        /invalid setting "logFormat" \(from config file .*mldeploy.config.yaml\)/,
      ),
    ]);
  });
});
