import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/**
 * CPU time of a server: its process and its direct children (node:cluster workers), from
 * /proc. On a 2-core machine the load generator shares the cores with the server, and a
 * protocol whose client costs more (HTTP/2 and gRPC framing against autocannon's HTTP/1.1)
 * takes cores from the server it measures; the server's own CPU per request shows what a
 * protocol costs the server, apart from its client. Undefined where /proc is not there.
 */
export function serverCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stats = readdirSync("/proc")
      .filter((entry) => /^\d+$/.test(entry))
      .map((entry) => readStat(Number(entry)))
      .filter((stat): stat is ProcStat => stat !== undefined);
    const ticks = stats
      .filter((stat) => stat.pid === pid || stat.ppid === pid)
      .reduce((sum, stat) => sum + stat.cpuTicks, 0);
    return ticks / clockTicksPerSecond();
  } catch {
    return undefined;
  }
}

interface ProcStat {
  pid: number;
  ppid: number;
  cpuTicks: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined; // gone between the listing and the read
  }
  // The command name (field 2) is in parentheses and may hold spaces: fields after its ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // After the name: state(3) ppid(4) … utime(14) stime(15), counted from field 3 here.
  return { pid, ppid: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

let ticksPerSecond: number | undefined;
function clockTicksPerSecond(): number {
  ticksPerSecond ??=
    Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  return ticksPerSecond;
}
