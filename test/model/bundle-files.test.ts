import { execFileSync } from "node:child_process";
import {
  appendFileSync,
  cpSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_MLMODEL_BYTES, readBundle } from "../../src/model/bundle.js";
import { loadPredictor } from "../../src/model/predictor.js";
import { BundleError } from "../../src/model/types.js";
import { runCli } from "../helpers/cli.js";
import { rideBundlePath } from "../helpers/ride-bundle.js";
import { tempDir } from "../helpers/temp.js";

/**
 * Hostile bundles built from real files: symbolic links out of the bundle (to /etc/passwd, to
 * /dev/zero), a FIFO nobody writes to, an MLmodel of many MiB. Each must be refused quickly,
 * naming the file; before the checks, /etc/passwd was opened, /dev/zero read until memory ran
 * out and a FIFO hung `info` and `serve` for good.
 */

/** Long enough for a slow shared machine, far shorter than the hang or the 615 MB read. */
const QUICK_MS = 10_000;

let ride: string;
beforeAll(async () => {
  ride = await rideBundlePath();
}, 120_000);

/** A copy of the trained ride bundle, to be made hostile. */
function rideCopy(): string {
  const dir = path.join(tempDir(), "ride-duration");
  cpSync(ride, dir, { recursive: true });
  return dir;
}

function replaceWithLink(dir: string, file: string, target: string): void {
  rmSync(path.join(dir, file));
  symlinkSync(target, path.join(dir, file));
}

function replaceWithFifo(dir: string, file: string): void {
  rmSync(path.join(dir, file));
  execFileSync("mkfifo", [path.join(dir, file)]);
}

/** Expects `promise` to fail with a BundleError matching `message`, within QUICK_MS. */
async function refusedQuickly(promise: Promise<unknown>, message: RegExp): Promise<void> {
  const started = performance.now();
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(performance.now() - started).toBeLessThan(QUICK_MS);
  expect(error).toBeInstanceOf(BundleError);
  expect((error as Error).message).toMatch(message);
}

describe("bundle files that lead outside the bundle or are no regular file", () => {
  it.each([
    [
      "model.onnx linked to /etc/passwd",
      (dir: string) => replaceWithLink(dir, "model.onnx", "/etc/passwd"),
      /model\.onnx \(flavors\.onnx\.data\) resolves to \/etc\/passwd, outside the bundle/,
    ],
    [
      "MLmodel linked to /etc/passwd",
      (dir: string) => replaceWithLink(dir, "MLmodel", "/etc/passwd"),
      /MLmodel resolves to \/etc\/passwd, outside the bundle/,
    ],
    [
      "MLmodel linked to /dev/zero",
      (dir: string) => replaceWithLink(dir, "MLmodel", "/dev/zero"),
      /MLmodel resolves to \/dev\/zero, outside the bundle/,
    ],
    [
      "MLmodel linked, by a relative path, to a bundle next door",
      (dir: string) => {
        const other = rideCopy();
        replaceWithLink(dir, "MLmodel", path.relative(dir, path.join(other, "MLmodel")));
      },
      /MLmodel resolves to .*, outside the bundle/,
    ],
    [
      "model.onnx in a linked directory outside the bundle",
      (dir: string) => {
        const outside = tempDir();
        renameSync(path.join(dir, "model.onnx"), path.join(outside, "model.onnx"));
        symlinkSync(outside, path.join(dir, "graphs"));
        const mlmodel = path.join(dir, "MLmodel");
        writeFileSync(
          mlmodel,
          readFileSync(mlmodel, "utf8").replaceAll("data: model.onnx", "data: graphs/model.onnx"),
        );
      },
      /graphs\/model\.onnx \(flavors\.onnx\.data\) resolves to .*, outside the bundle/,
    ],
    [
      "MLmodel a FIFO",
      (dir: string) => replaceWithFifo(dir, "MLmodel"),
      /MLmodel is a FIFO \(named pipe\), not a regular file/,
    ],
    [
      "model.onnx a FIFO",
      (dir: string) => replaceWithFifo(dir, "model.onnx"),
      /model\.onnx \(flavors\.onnx\.data\) is a FIFO \(named pipe\), not a regular file/,
    ],
    [
      "MLmodel a directory",
      (dir: string) => {
        rmSync(path.join(dir, "MLmodel"));
        mkdirSync(path.join(dir, "MLmodel"));
      },
      /MLmodel is a directory, not a regular file/,
    ],
    [
      "MLmodel a link to nothing",
      (dir: string) => replaceWithLink(dir, "MLmodel", "gone"),
      /MLmodel is a symbolic link to nothing/,
    ],
    [
      "MLmodel a link to itself",
      (dir: string) => replaceWithLink(dir, "MLmodel", "MLmodel"),
      /MLmodel cannot be resolved: too many levels of symbolic links/,
    ],
    [
      `an MLmodel larger than ${MAX_MLMODEL_BYTES} bytes`,
      (dir: string) => {
        // Valid YAML all the same: a comment of 5 MiB after the real content.
        appendFileSync(path.join(dir, "MLmodel"), `# ${"x".repeat(5 * 1024 * 1024)}\n`);
      },
      /MLmodel is \d+ bytes, larger than 4 MiB, the most mldeploy reads of it/,
    ],
  ])(
    "refuses %s, naming the file, in readBundle and loadPredictor",
    async (_label, spoil, message) => {
      const dir = rideCopy();
      spoil(dir);
      await refusedQuickly(readBundle(dir), message);
      await refusedQuickly(loadPredictor(dir), message);
    },
    30_000,
  );

  it("accepts links that stay inside the bundle, and a bundle reached through a link", async () => {
    const dir = rideCopy();
    mkdirSync(path.join(dir, "versions"));
    renameSync(path.join(dir, "model.onnx"), path.join(dir, "versions", "model-v1.onnx"));
    symlinkSync("versions/model-v1.onnx", path.join(dir, "model.onnx"));
    renameSync(path.join(dir, "MLmodel"), path.join(dir, "versions", "MLmodel-v1"));
    // An absolute link into the bundle is as good as a relative one.
    symlinkSync(path.join(dir, "versions", "MLmodel-v1"), path.join(dir, "MLmodel"));
    const viaLink = path.join(tempDir(), "current");
    symlinkSync(dir, viaLink);

    const bundle = await readBundle(viaLink);
    expect(bundle.onnxFile).toBe("model.onnx");
    expect(path.basename(bundle.onnxPath)).toBe("model-v1.onnx");
    const predictor = await loadPredictor(viaLink);
    try {
      expect(predictor.info.name).toBe("current");
      const result = await predictor.predictRecords([
        { PULocationID: 10, DOLocationID: 50, trip_distance: 4 },
      ]);
      expect(Number.isFinite(result.values[0])).toBe(true);
    } finally {
      await predictor.close();
    }
  }, 60_000);
});

describe("the CLI refuses a hostile bundle quickly with a one-line error (exit 2)", () => {
  it.each([
    [
      "info",
      "MLmodel a FIFO",
      (dir: string) => replaceWithFifo(dir, "MLmodel"),
      /MLmodel is a FIFO/,
    ],
    [
      "info",
      "MLmodel linked to /dev/zero",
      (dir: string) => replaceWithLink(dir, "MLmodel", "/dev/zero"),
      /MLmodel resolves to \/dev\/zero, outside the bundle/,
    ],
    [
      "info",
      "model.onnx linked to /etc/passwd",
      (dir: string) => replaceWithLink(dir, "model.onnx", "/etc/passwd"),
      /model\.onnx \(flavors\.onnx\.data\) resolves to \/etc\/passwd/,
    ],
    [
      "serve",
      "MLmodel a FIFO",
      (dir: string) => replaceWithFifo(dir, "MLmodel"),
      /MLmodel is a FIFO/,
    ],
    [
      "serve",
      "model.onnx a FIFO",
      (dir: string) => replaceWithFifo(dir, "model.onnx"),
      /model\.onnx \(flavors\.onnx\.data\) is a FIFO/,
    ],
  ])(
    "mldeploy %s: %s",
    async (command, _label, spoil, message) => {
      const dir = rideCopy();
      spoil(dir);
      const args = command === "serve" ? ["serve", dir, "--port", "0"] : ["info", dir];
      const started = performance.now();
      // The CLI is killed at QUICK_MS: a hang shows as a null status, not as a stuck test.
      const result = await runCli(args, { timeoutMs: QUICK_MS });
      expect(performance.now() - started).toBeLessThan(QUICK_MS);
      expect(result.status).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    },
    30_000,
  );
});
