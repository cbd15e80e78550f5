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
 * Serves inference.GRPCInferenceService on host:port. In a cluster worker the port is shared
 * like the HTTP one: grpc-js listens through Node's net module (http2.Server.listen), which in
 * a worker asks the primary for the shared handle, and the primary hands connections out
 * round-robin. A connection is an HTTP/2 session carrying many calls, so a client that keeps
 * one channel talks to one worker; clients spread over workers by opening several channels.
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
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${host}:${options.port}`,
      ServerCredentials.createInsecure(),
      (error, bound) => {
        if (error) {
          reject(
            new UserError(
              `cannot serve gRPC on ${host}:${options.port} (--grpc-port): ${error.message}`,
            ),
          );
        } else resolve(bound);
      },
    );
  });
  let drained: Promise<void> | undefined;
  return {
    port,
    drain: () => (drained ??= new Promise<void>((resolve) => server.tryShutdown(() => resolve()))),
    cut: () => server.forceShutdown(),
  };
}
