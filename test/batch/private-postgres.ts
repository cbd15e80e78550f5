import { execFile } from "node:child_process";
import { chownSync, chmodSync, existsSync, readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll } from "vitest";
import { tempDir } from "../helpers/temp.js";

/**
 * A private PostgreSQL server (initdb + pg_ctl on a free port, its data in a temp dir), so a
 * test can restart it without disturbing the shared server other tests use. PostgreSQL
 * refuses to run as root: then the server runs as the `postgres` OS user (runuser). Every
 * server started here is stopped after the file's tests.
 */

export const PG_BIN = "/usr/lib/postgresql/15/bin";
const exec = promisify(execFile);

const isRoot = process.getuid?.() === 0;

/** uid and gid of the `postgres` OS user, from /etc/passwd. */
function postgresUser(): { uid: number; gid: number } | undefined {
  const line = /^postgres:[^:]*:(\d+):(\d+):/m.exec(readFileSync("/etc/passwd", "utf8"));
  return line ? { uid: Number(line[1]), gid: Number(line[2]) } : undefined;
}

/** Why no private server can be started here, or undefined when one can. */
export function privatePostgresUnavailable(): string | undefined {
  if (!existsSync(path.join(PG_BIN, "pg_ctl"))) return `no PostgreSQL binaries in ${PG_BIN}`;
  if (isRoot && (!existsSync("/usr/sbin/runuser") || postgresUser() === undefined)) {
    return "running as root without runuser or a postgres OS user";
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

export interface PrivatePostgres {
  url: string;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const started = new Set<PrivatePostgres>();
afterAll(async () => {
  for (const server of [...started]) await server.stop();
});

/** Runs a PostgreSQL binary, as the postgres user when we are root. */
async function pg(binary: string, args: string[]): Promise<void> {
  const command = path.join(PG_BIN, binary);
  if (isRoot) await exec("/usr/sbin/runuser", ["-u", "postgres", "--", command, ...args]);
  else await exec(command, args);
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const root = tempDir("mldeploy-private-pg-");
  const data = path.join(root, "data");
  if (isRoot) {
    const user = postgresUser()!;
    chmodSync(root, 0o755);
    chownSync(root, user.uid, user.gid);
  }
  const port = await freePort();
  await pg("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
  const options = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const ctl = (...args: string[]) => pg("pg_ctl", ["-D", data, "-w", "-t", "60", ...args]);
  await ctl("-o", options, "-l", path.join(root, "server.log"), "start");
  let running = true;
  const server: PrivatePostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async restart() {
      // Fast shutdown: every session is terminated (57P01), as in a server restart.
      await ctl("-m", "fast", "-o", options, "-l", path.join(root, "server.log"), "restart");
    },
    async stop() {
      started.delete(server);
      if (!running) return;
      running = false;
      await ctl("-m", "immediate", "stop").catch(() => undefined);
    },
  };
  started.add(server);
  return server;
}
