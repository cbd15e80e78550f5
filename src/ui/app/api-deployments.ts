/** The API calls of the Deployments and Batch jobs pages and of "try it". */
import type { Deployment, Experiment, Run } from "../../registry/store/types.js";
import { SERVE_TOKEN_HEADER } from "../../registry/server/serve-token-header.js";
import { getJson, listRuns, requestJson } from "./api.js";

export type { Deployment };

export const listDeployments = () => getJson<Deployment[]>("/deployments");

export interface InputExample {
  file: string;
  example: unknown;
}

export const getInputExample = (model: string, version: number) =>
  getJson<InputExample>(
    `/models/${encodeURIComponent(model)}/versions/${String(version)}/input-example`,
  );

/** What a serve deployment answered to a request sent through the registry. */
export interface InvocationAnswer {
  status: number | null;
  contentType: string | null;
  body: unknown;
  truncated: boolean;
  error?: string;
  ms: number;
}

export const invokeDeployment = (id: string, body: unknown, serveToken = "") =>
  requestJson<InvocationAnswer>("POST", `/deployments/${encodeURIComponent(id)}/invocations`, {
    body,
    headers: serveToken === "" ? {} : { [SERVE_TOKEN_HEADER]: serveToken },
  });

/** Runs of batch jobs are runs of this experiment (src/batch/history.ts). */
export const BATCH_EXPERIMENT = "batch";

/** Every run of every batch job, newest first; [] when no job ran yet. */
export async function listBatchRuns(): Promise<Run[]> {
  const [experiment] = await getJson<Experiment[]>("/experiments", { name: BATCH_EXPERIMENT });
  if (experiment === undefined) return [];
  return listRuns(experiment.id);
}
