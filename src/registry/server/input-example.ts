import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { SERVING_INPUT_EXAMPLE_FILE } from "../../model/mlflow-files.js";
import { artifactStoreFor } from "../artifacts/open.js";
import { joinArtifactUri } from "../artifacts/uri.js";
import { RegistryError } from "../errors.js";
import type { ModelVersion } from "../store/types.js";

/** Larger examples are not shown in a form: the page would choke before the serve does. */
export const MAX_INPUT_EXAMPLE_BYTES = 1024 * 1024;

/**
 * The request body a version's bundle offers as example (serving_input_example.json, which
 * MLflow's save_model writes beside MLmodel), read from wherever the version's files are
 * (a directory, S3) through the artifact stores.
 */
export async function readInputExample(
  version: ModelVersion,
): Promise<{ file: string; example: unknown }> {
  const uri = joinArtifactUri(version.source, SERVING_INPUT_EXAMPLE_FILE);
  const dir = await mkdtemp(path.join(os.tmpdir(), "mldeploy-example-"));
  const local = path.join(dir, SERVING_INPUT_EXAMPLE_FILE);
  const what = `version ${version.version} of model "${version.name}"`;
  try {
    try {
      await artifactStoreFor(uri).downloadFile(uri, local);
    } catch (error) {
      if (error instanceof RegistryError && error.code === "NOT_FOUND") {
        throw new RegistryError(
          "NOT_FOUND",
          `${what} has no ${SERVING_INPUT_EXAMPLE_FILE}: its bundle was saved without an input example`,
        );
      }
      throw error;
    }
    if ((await stat(local)).size > MAX_INPUT_EXAMPLE_BYTES) {
      throw new RegistryError(
        "INVALID_VALUE",
        `${what}: ${SERVING_INPUT_EXAMPLE_FILE} is larger than ${MAX_INPUT_EXAMPLE_BYTES} bytes`,
      );
    }
    const text = await readFile(local, "utf8");
    try {
      return { file: SERVING_INPUT_EXAMPLE_FILE, example: JSON.parse(text) as unknown };
    } catch {
      throw new RegistryError(
        "ARTIFACT_CORRUPT",
        `${what}: ${SERVING_INPUT_EXAMPLE_FILE} is not valid JSON`,
      );
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
