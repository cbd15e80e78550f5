import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";

/**
 * A private PostgreSQL server (initdb in a temp directory, a free port), so that a test can
 * restart it without touching the shared server other tests use. It runs as the `postgres`
 * OS user (PostgreSQL refuses to run as root).
 */

const BIN = "/usr/lib/postgresql/15/bin";
const run = promisify(execFile);

/** Why a private server cannot be started here, or undefined when it can. */
export function privatePostgresMissing(): string | undefined {
  if (!existsSync(path.join(BIN, "initdb"))) return `no PostgreSQL binaries in ${BIN}`;
  if (!existsSync("/usr/sbin/runuser")) return "no runuser to start PostgreSQL as postgres";
  if (process.getuid?.() !== 0) return "not root: cannot start PostgreSQL as the postgres user";
  return undefined;
}

export class PrivatePostgres {
  private child: ChildProcess | undefined;

  private constructor(
    private readonly dir: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  static async start(port: number): Promise<PrivatePostgres> {
    const dir = mkdtempSync(path.join(tmpdir(), "mldeploy-private-pg-"));
    const postgres = await run("id", ["-u", "postgres"]);
    const group = await run("id", ["-g", "postgres"]);
    chownSync(dir, Number(postgres.stdout.trim()), Number(group.stdout.trim()));
    await asPostgres(["initdb", "-D", `${dir}/data`, "-U", "postgres", "-A", "trust", "--no-sync"]);
    const server = new PrivatePostgres(dir, port);
    await server.up();
    return server;
  }

  /** Stops the server as a crash would (immediate: no checkpoint), then starts it again. */
  async restart(downMs = 500): Promise<void> {
    await this.down("immediate");
    await new Promise((resolve) => setTimeout(resolve, downMs));
    await this.up();
  }

  async stop(): Promise<void> {
    await this.down("fast").catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async up(): Promise<void> {
    this.child = spawn(
      "/usr/sbin/runuser",
      [
        "-u",
        "postgres",
        "--",
        path.join(BIN, "postgres"),
        "-D",
        `${this.dir}/data`,
        "-p",
        String(this.port),
        "-k",
        this.dir,
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        "fsync=off",
      ],
      { stdio: "ignore" },
    );
    const deadline = Date.now() + 20_000;
    for (;;) {
      const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 1000 });
      try {
        await client.connect();
        await client.query("SELECT 1");
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      } finally {
        await client.end().catch(() => undefined);
      }
    }
  }

  private async down(mode: "fast" | "immediate"): Promise<void> {
    const child = this.child;
    this.child = undefined;
    await asPostgres(["pg_ctl", "-D", `${this.dir}/data`, "-m", mode, "-w", "stop"]);
    if (child && child.exitCode === null && child.signalCode === null) {
      await new Promise((resolve) => child.once("close", resolve));
    }
  }
}

async function asPostgres(command: string[]): Promise<void> {
  const [binary, ...args] = command;
  await run("/usr/sbin/runuser", ["-u", "postgres", "--", path.join(BIN, binary), ...args]);
}
