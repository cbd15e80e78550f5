import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";
import { FileBatchSink } from "../../../src/batch/files/sink.js";
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
