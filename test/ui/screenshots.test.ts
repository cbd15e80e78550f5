import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers/temp.js";
import { haveChromium } from "./browser.js";

const SCRIPT = path.resolve("dist/bench/ui-screenshots.js");
const PAGES = ["experiments", "runs", "run", "compare", "models", "model", "deployments", "batch"];
const SIZES = ["1280x800", "390x844"];
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Width and height from a PNG's IHDR chunk (right after the 8-byte signature). */
function pngSize(file: string): { width: number; height: number } {
  const head = readFileSync(file).subarray(0, 24);
  expect(head.subarray(0, 8).equals(PNG_SIGNATURE), `${file} is not a PNG`).toBe(true);
  expect(head.subarray(12, 16).toString("latin1")).toBe("IHDR");
  return { width: head.readUInt32BE(16), height: head.readUInt32BE(20) };
}

function runScript(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGTERM"), 55_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe.skipIf(!haveChromium)("npm run ui:screenshots (dist/bench/ui-screenshots.js)", () => {
  it("seeds a registry, serves it and writes a PNG of every page at 1280×800 and 390×844", async () => {
    const out = path.join(tempDir("mldeploy-screenshots-test-"), "shots");
    // A smaller registry than the default one: the same code path, in a fraction of the time.
    const result = await runScript(["--out", out, "--rows", "3000", "--steps", "60"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain("seeding a registry");

    const expected = SIZES.flatMap((size) =>
      PAGES.map((page) => path.join(out, `${page}-${size}.png`)),
    );
    // It prints what it wrote, one file a line.
    expect(result.stdout.trim().split("\n")).toEqual(expected);
    for (const file of expected) {
      expect(existsSync(file), file).toBe(true);
      const [width, height] = /-(\d+)x(\d+)\.png$/.exec(file)!.slice(1).map(Number);
      expect(pngSize(file), file).toEqual({ width, height });
    }
  }, 60_000);

  it("refuses a bad option value with a message naming it", async () => {
    const result = await runScript(["--out", tempDir("mldeploy-screenshots-bad-"), "--steps", "0"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('--steps must be a whole number of at least 1, got "0"');
  });
});
