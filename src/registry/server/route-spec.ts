import type { Readable } from "node:stream";
import type { z } from "zod";
import type { RegistryStore } from "../store/types.js";
import type { ArtifactRoots } from "./artifact-roots.js";
import { RequestValidationError, type RequestPart } from "./validation.js";

/** What a handler may need of the server besides the store: its own rules. */
export interface ServerRules {
  /** Where clients may point artifact locations and version sources. */
  artifactRoots: ArtifactRoots;
}

/**
 * A handler's answer that is not JSON: bytes with their own headers (an artifact file). The
 * route declares `produces`, the media type the document shows for it.
 */
export class RawAnswer {
  constructor(
    readonly body: Readable | Buffer,
    readonly headers: Record<string, string>,
  ) {}
}

export type HttpMethod = "GET" | "POST" | "PUT" | "DELETE";

/** One API operation, declared once: the server registers it and the OpenAPI document shows it. */
export interface RouteSpec<
  P extends z.ZodType = z.ZodUndefined,
  Q extends z.ZodType = z.ZodUndefined,
  B extends z.ZodType = z.ZodUndefined,
  R = unknown,
  H extends z.ZodType = z.ZodUndefined,
> {
  method: HttpMethod;
  /** Fastify syntax relative to API_PREFIX: `/runs/:id`. */
  path: string;
  operationId: string;
  summary: string;
  tag: "experiments" | "runs" | "models" | "artifacts" | "deployments" | "monitoring";
  params?: P;
  query?: Q;
  body?: B;
  /** Request headers the handler reads (names in lower case, as Node gives them). */
  headers?: H;
  /** 204 answers carry no body; the others carry `response`. */
  status: 200 | 201 | 204;
  response?: z.ZodType<R>;
  /** Set when the handler answers a RawAnswer: the media type of its bytes, for the document. */
  produces?: string;
  /** Error statuses this operation can answer besides 400/401/500, for the document. */
  errors: number[];
  handle(
    store: RegistryStore,
    input: { params: z.output<P>; query: z.output<Q>; body: z.output<B>; headers: z.output<H> },
    rules: ServerRules,
  ): Promise<R>;
}

/** What a request brings, before validation. */
export interface RawInput {
  params: unknown;
  query: unknown;
  body: unknown;
  headers: unknown;
}

/** A RouteSpec with its types erased, so that routes of different shapes share one list. */
export interface ApiRoute {
  method: HttpMethod;
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  headers?: z.ZodType;
  status: 200 | 201 | 204;
  response?: z.ZodType;
  produces?: string;
  errors: number[];
  /** Validates the raw input against the schemas, then calls the store. */
  run(store: RegistryStore, raw: RawInput, rules: ServerRules): Promise<unknown>;
}

function parse(schema: z.ZodType | undefined, value: unknown, where: RequestPart): unknown {
  if (schema === undefined) return undefined;
  // reportInput: the offending value goes into the message ("got …").
  const result = schema.safeParse(value, { reportInput: true });
  if (!result.success) throw RequestValidationError.fromIssues(where, result.error.issues);
  return result.data;
}

export function defineRoute<
  P extends z.ZodType,
  Q extends z.ZodType,
  B extends z.ZodType,
  R,
  H extends z.ZodType = z.ZodUndefined,
>(spec: RouteSpec<P, Q, B, R, H>): ApiRoute {
  const { handle, ...rest } = spec;
  return {
    ...rest,
    run: (store, raw, rules) =>
      handle(
        store,
        {
          params: parse(spec.params, raw.params, "path"),
          query: parse(spec.query, raw.query, "query"),
          body: parse(spec.body, raw.body, "body"),
          headers: parse(spec.headers, raw.headers, "header"),
          // Sound: each value was just parsed by the schema its type is inferred from (an
          // absent schema defaults to ZodUndefined, and parse returns undefined for it).
        } as {
          params: z.output<P>;
          query: z.output<Q>;
          body: z.output<B>;
          headers: z.output<H>;
        },
        rules,
      ),
  };
}
