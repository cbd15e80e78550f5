import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";
import { FileBatchSink } from "../../../src/batch/files/sink.js";
import { sqlString, withDuckDB } from "../../../src/duckdb/index.js";
import { CLI, runCli } from "../../helpers/cli.js";
import { rideBundlePath } from "../../helpers/ride-bundle.js";
import { tempDir } from "../../helpers/temp.js";

/** The pid of a process that has exited (a real one, not a made-up number). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "console.log(process.pid)"], {
    encoding: "utf8",
  });
  const pid = Number(child.stdout.trim());
  expect(() => process.kill(pid, 0)).toThrow();
  return pid;
}

it("removes the merge temp files a killed process left, and only those", async () => {
  const dir = tempDir("mldeploy-sink-leftovers-");
  const target = path.join(dir, "preds.parquet");
  const dead = deadPid();
  const running = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"]);
  try {
    const live = running.pid!;
    const files = {
      // What `kill -9` during a merge leaves: the target's and the rejects file's temp copies.
      deadTarget: `preds.parquet.tmp-${dead}-deadbeef`,
      deadRejects: `preds.rejects.parquet.tmp-${dead}-0badf00d`,
      // This pid, but no merge of this process writes it: a restarted container's pid 1.
      ownPid: `preds.parquet.tmp-${process.pid}-abcdef01`,
      // A merge in progress in another process: left alone.
      liveMerge: `preds.parquet.tmp-${live}-12345678`,
      // Not this sink's, or not its pattern.
      otherTarget: `other.parquet.tmp-${dead}-deadbeef`,
      notOurs: "preds.parquet.tmp-notes",
    };
    for (const name of Object.values(files)) writeFileSync(path.join(dir, name), "partial");

    const sink = new FileBatchSink({ path: target });
    await sink.prepare("job");
    await sink.close();
    const left = readdirSync(dir).sort();
    expect(left).not.toContain(files.deadTarget);
    expect(left).not.toContain(files.deadRejects);
    expect(left).not.toContain(files.ownPid);
    expect(left).toContain(files.liveMerge);
    expect(left).toContain(files.otherTarget);
    expect(left).toContain(files.notOurs);

    // `mldeploy batch merge` (finalize without a run) cleans up too.
    writeFileSync(path.join(dir, files.deadTarget), "partial");
    const merger = new FileBatchSink({ path: target });
    await merger.finalize();
    await merger.close();
    expect(existsSync(path.join(dir, files.deadTarget))).toBe(false);
  } finally {
    running.kill("SIGKILL");
  }
});

it("a merge killed with kill -9 leaves its temp file; the next merge removes it", async () => {
  const dir = tempDir("mldeploy-sink-kill-merge-");
  const source = path.join(dir, "rides.parquet");
  await withDuckDB((db) =>
    db.run(
      `COPY (SELECT range AS ride_id, 1 + range % 200 AS PULocationID,
                    1 + (range * 7) % 200 AS DOLocationID, (range % 50) / 4 AS trip_distance
             FROM range(400000))
       TO ${sqlString(source)} (FORMAT parquet)`,
    ),
  );
  const target = path.join(dir, "preds.parquet");
  const env = { MLDEPLOY_DATA_DIR: path.join(dir, "registry") };
  const bundle = await rideBundlePath();
  // Two partition workers: parts of two jobs, which the merge has to sort (no shortcut).
  for (const partition of ["0/2", "1/2"]) {
    const worker = await runCli(
      ["batch", "--model", bundle, "--source", source, "--id-column", "ride_id"].concat([
        "--sink",
        target,
        "--partition",
        partition,
      ]),
      { env },
    );
    expect(worker.stderr).toBe("");
  }
  const merge = spawn(process.execPath, [CLI, "batch", "merge", "--sink", target], {
    env: { ...process.env, ...env },
    stdio: "ignore",
  });
  const exited = new Promise((resolve) => merge.on("exit", resolve));
  // kill -9 as soon as the merge's temp file exists.
  let leftover: string | undefined;
  while (leftover === undefined && merge.exitCode === null) {
    leftover = readdirSync(dir).find((name) => name.startsWith("preds.parquet.tmp-"));
    if (leftover === undefined) await new Promise((resolve) => setTimeout(resolve, 2));
  }
  merge.kill("SIGKILL");
  await exited;
  expect(leftover, "the merge ended before its temp file was seen").toBeDefined();
  expect(existsSync(path.join(dir, leftover!))).toBe(true);
  expect(existsSync(target)).toBe(false);

  const again = await runCli(["batch", "merge", "--sink", target], { env });
  expect(again.status).toBe(0);
  expect(readdirSync(dir).filter((name) => name.includes(".tmp-"))).toEqual([]);
  const rows = await withDuckDB(
    async (db) =>
      (
        await db.runAndReadAll(`SELECT count(*) FROM read_parquet(${sqlString(target)})`)
      ).getRows()[0][0],
  );
  expect(Number(rows)).toBe(400000);
}, 120_000);
