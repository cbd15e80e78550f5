import net from "node:net";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { UserError } from "../../config/errors.js";
import { grpcInferenceService, type GrpcServiceOptions } from "./service.js";
import { inferenceService } from "./proto.js";

export interface GrpcServerOptions extends GrpcServiceOptions {
  host: string;
  port: number;
  /** Largest request message (serve's bodyLimitBytes); beyond, gRPC answers RESOURCE_EXHAUSTED. */
  maxReceiveBytes: number;
}

/** The gRPC side of serve in one process. */
export interface GrpcServing {
  /** The port bound (the one asked for). */
  port: number;
  /**
   * Graceful stop: no new calls (GOAWAY on every connection), calls in flight run to their
   * answer; resolves once all are done.
   */
  drain(): Promise<void>;
  /** Cancels the calls still running (the shutdown timeout passed). */
  cut(): void;
}

/**
 * Serves inference.GRPCInferenceService on host:port.
 *
 * The port is a node:net server of our own whose connections are handed to grpc-js
 * (createConnectionInjector), for two reasons:
 * - Nagle's algorithm off (noDelay), as node:http does for the HTTP side: grpc-js's own
 *   listener (http2.createServer) leaves it on, and with many calls in flight on a connection
 *   an answer's last small frames then wait for the client's delayed ACK (tens of ms a call);
 * - in a cluster worker it is a plain net listen, which node:cluster shares between the
 *   workers like the HTTP port (the primary hands connections out round-robin). A connection
 *   is an HTTP/2 session carrying many calls, so a client that keeps one channel talks to one
 *   worker; clients spread over workers by opening several channels.
 */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServing> {
  const server = new Server({
    "grpc.max_receive_message_length": options.maxReceiveBytes,
    "grpc.max_send_message_length": -1,
    // Channelz (gRPC's introspection service, which mldeploy does not serve) would otherwise
    // track every call and connection: CPU on every call for nothing.
    "grpc.enable_channelz": 0,
  });
  server.addService(inferenceService(), grpcInferenceService(options));
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  const listener = net.createServer({ noDelay: true }, (socket) =>
    injector.injectConnection(socket),
  );
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  await new Promise<void>((resolve, reject) => {
    listener.once("error", (error) =>
      reject(
        new UserError(
          `cannot serve gRPC on ${host}:${options.port} (--grpc-port): ${error.message}`,
        ),
      ),
    );
    listener.listen({ host: options.host, port: options.port }, () => resolve());
  });
  const address = listener.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;
  let drained: Promise<void> | undefined;
  return {
    port,
    drain: () =>
      (drained ??= new Promise<void>((resolve) => {
        listener.close();
        // GOAWAY on every connection; resolves once their calls have ended.
        server.tryShutdown(() => resolve());
      })),
    cut: () => {
      listener.close();
      server.forceShutdown();
    },
  };
}
