import type { FastifyInstance } from "fastify";
import { loadPredictor } from "../../../src/model/predictor.js";
import type { Predictor } from "../../../src/model/types.js";
import { buildServer, type BuildServerOptions } from "../../../src/serve/server.js";
import { rideBundlePath } from "../../helpers/ride-bundle.js";

export interface TestServer {
  app: FastifyInstance;
  predictor: Predictor;
  url: string;
  close(): Promise<void>;
}

/** The real ride model behind a real socket on 127.0.0.1 (random port). */
export async function startTestServer(
  options: BuildServerOptions = {},
  predictorOptions: { name?: string; version?: string } = {},
): Promise<TestServer> {
  const predictor = await loadPredictor(await rideBundlePath(), {
    name: "ride-duration",
    version: "7",
    ...predictorOptions,
  });
  const app = await buildServer(predictor, options);
  await app.listen({ port: 0, host: "127.0.0.1" });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    app,
    predictor,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await app.close();
    },
  };
}

export interface Answer {
  status: number;
  contentType: string;
  text: string;
  json: unknown;
}

export async function request(
  url: string,
  init: { method?: string; body?: string | Uint8Array; contentType?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (init.contentType !== undefined) headers["content-type"] = init.contentType;
  const response = await fetch(url, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers,
    body: init.body,
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return {
    status: response.status,
    contentType: response.headers.get("content-type") ?? "",
    text,
    json,
  };
}

export const postJson = (url: string, body: unknown) =>
  request(url, { body: JSON.stringify(body), contentType: "application/json" });

export const RIDES = [
  { PULocationID: 10, DOLocationID: 50, trip_distance: 40 },
  { PULocationID: 130, DOLocationID: 205, trip_distance: 3.66 },
  { PULocationID: 74, DOLocationID: 75, trip_distance: 1.2 },
  { PULocationID: 1, DOLocationID: 265, trip_distance: 0 },
];

/** What the model itself says for these rides, to compare every protocol against. */
export async function expected(
  predictor: Predictor,
  rides: Array<Record<string, unknown>> = RIDES,
): Promise<number[]> {
  return Array.from((await predictor.predictRecords(rides)).values as Float64Array);
}
