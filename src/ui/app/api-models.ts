/** The registry's model API, as the Models and Model pages call it. */
import type { ModelVersion, RegisteredModel, Run } from "../../registry/store/types.js";
import { getJson, NotFound, requestJson } from "./api.js";

export type { ModelVersion, RegisteredModel };

const modelPath = (name: string) => `/models/${encodeURIComponent(name)}`;

export const listModels = () => getJson<RegisteredModel[]>("/models");

/** A model, its versions (ascending) and the names of the runs that produced them. */
export interface ModelDetails {
  model: RegisteredModel;
  versions: ModelVersion[];
  /** run id → run name, for the runs that still exist. */
  runNames: Record<string, string>;
}

export async function loadModelDetails(name: string): Promise<ModelDetails> {
  const [model, versions] = await Promise.all([
    getJson<RegisteredModel>(modelPath(name)),
    getJson<ModelVersion[]>(`${modelPath(name)}/versions`),
  ]);
  const runIds = [...new Set(versions.flatMap((v) => (v.runId === null ? [] : [v.runId])))];
  const runs = await Promise.all(
    runIds.map((id) =>
      getJson<Run>(`/runs/${encodeURIComponent(id)}`).catch((error: unknown) => {
        // A run deleted since (or on another server) still links by its id.
        if (error instanceof NotFound) return undefined;
        throw error;
      }),
    ),
  );
  const runNames: Record<string, string> = {};
  for (const run of runs) if (run?.name) runNames[run.id] = run.name;
  return { model, versions, runNames };
}

/** Creates the alias or moves it to `version`. */
export function setAlias(name: string, alias: string, version: number): Promise<void> {
  return requestJson<void>("PUT", `${modelPath(name)}/aliases/${encodeURIComponent(alias)}`, {
    body: { version },
  });
}

export function deleteAlias(name: string, alias: string): Promise<void> {
  return requestJson<void>("DELETE", `${modelPath(name)}/aliases/${encodeURIComponent(alias)}`);
}
