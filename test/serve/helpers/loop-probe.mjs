// Loaded into a server process with NODE_OPTIONS="--import <this file>". It measures how long
// the main thread held the event loop: the CPU time the kernel charged to that thread between
// two ticks of a 5 ms timer. Unlike wall-clock lag, this does not grow when a busy machine
// leaves the process waiting for a core. On SIGUSR2 it prints the longest such stretch since
// the previous SIGUSR2 (one JSON line on stderr) and starts over.
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import process from "node:process";
import { setInterval } from "node:timers";

const statPath = `/proc/self/task/${process.pid}/stat`;
// utime and stime of the thread, in clock ticks of 10 ms (USER_HZ = 100 on Linux).
const threadCpuMs = () => {
  const stat = readFileSync(statPath, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

let lastWall = performance.now();
let lastCpu = threadCpuMs();
let maxBlockedMs = 0;
let maxWallGapMs = 0;
setInterval(() => {
  const wall = performance.now();
  const cpu = threadCpuMs();
  maxWallGapMs = Math.max(maxWallGapMs, wall - lastWall);
  maxBlockedMs = Math.max(maxBlockedMs, Math.min(wall - lastWall, cpu - lastCpu));
  lastWall = wall;
  lastCpu = cpu;
}, 5).unref();

process.on("SIGUSR2", () => {
  const report = { loopProbe: { maxBlockedMs, maxWallGapMs: Math.round(maxWallGapMs) } };
  process.stderr.write(`${JSON.stringify(report)}\n`);
  maxBlockedMs = 0;
  maxWallGapMs = 0;
});
