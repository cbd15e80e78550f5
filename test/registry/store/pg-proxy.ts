import net from "node:net";

/**
 * A TCP proxy in front of PostgreSQL that can cut one connection at the worst moment: while
 * COMMIT is on its way. Real sockets: the store sees exactly what a network failure or a
 * server dying mid-commit looks like.
 *
 * - "after-commit": COMMIT reaches the server, which commits; its answer is swallowed and
 *   both sockets are destroyed. The client cannot know the change was saved.
 * - "before-commit": COMMIT is dropped and both sockets destroyed; the server rolls back.
 */
export type CutMode = "after-commit" | "before-commit";

// A simple-protocol Query message carrying exactly "COMMIT": 'Q', int32 length, text, NUL.
const COMMIT_MESSAGE = Buffer.concat([
  Buffer.from("Q"),
  Buffer.from([0, 0, 0, 4 + "COMMIT".length + 1]),
  Buffer.from("COMMIT\0"),
]);

export class PgCutProxy {
  /** How many connections were cut. */
  cuts = 0;
  private armed: CutMode | undefined;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly target: { host: string; port: number },
    readonly port: number,
    server: net.Server,
  ) {
    this.server = server;
  }

  static async start(target: { host: string; port: number }): Promise<PgCutProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    const proxy = new PgCutProxy(target, port, server);
    server.on("connection", (socket) => proxy.pipe(socket));
    return proxy;
  }

  /** The next COMMIT through the proxy cuts its connection (once). */
  cutNextCommit(mode: CutMode): void {
    this.armed = mode;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private pipe(client: net.Socket): void {
    const upstream = net.connect(this.target.port, this.target.host);
    this.sockets.add(client).add(upstream);
    let swallowing = false;
    const cut = () => {
      this.cuts++;
      client.destroy();
      upstream.destroy();
    };
    client.on("data", (chunk: Buffer) => {
      const mode = this.armed;
      if (mode !== undefined && chunk.includes(COMMIT_MESSAGE)) {
        this.armed = undefined;
        if (mode === "before-commit") return cut();
        // Forward COMMIT; cut as soon as the server answers (it has committed by then).
        swallowing = true;
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (swallowing) return cut();
      client.write(chunk);
    });
    const end = () => {
      this.sockets.delete(client);
      this.sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  }
}
