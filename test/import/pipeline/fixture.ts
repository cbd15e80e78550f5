import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pythonFixture, sampleRidesJson } from "../fixtures.js";

const SCRIPT = readFileSync(
  path.join(path.dirname(fileURLToPath(import.meta.url)), "fit-pipeline.py"),
  "utf8",
);

/** The directory fit-pipeline.py writes (made once per script version, by Debian's Python). */
export async function pipelineFixtures(): Promise<string> {
  return pythonFixture(SCRIPT, await sampleRidesJson(5000));
}

export const PIPELINE_MODULES = ["sklearn", "xgboost", "joblib", "cloudpickle", "numpy"];
