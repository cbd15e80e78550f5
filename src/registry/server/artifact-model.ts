/**
 * A model directory among a run's artifacts (a folder holding MLmodel, e.g. `model/`): what
 * the web UI shows of it (signature, input example) and what registering it as a version
 * sends, read exactly as `mldeploy models register runs:/<run>/<path>` reads it, so that a
 * version registered from the page is the one the CLI would have made.
 */
import { mkdtemp, realpath, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { readRegistrableModel, type Signature } from "../../model/bundle.js";
import { bundleRoot, readBundleFile, resolveBundleFile } from "../../model/bundle-files.js";
import { INPUT_EXAMPLE_FILE, SERVING_INPUT_EXAMPLE_FILE } from "../../model/mlflow-files.js";
import { BundleError } from "../../model/types.js";
import { ModelCache } from "../artifacts/cache.js";
import { MLMODEL_FILE } from "../artifacts/listing.js";
import { UnsafeFile, realPathWithin } from "../artifacts/safe-files.js";
import { localPathUnder, parseArtifactUri } from "../artifacts/uri.js";
import { RegistryError } from "../errors.js";
import { RequestValidationError } from "./validation.js";
import { uriOf, type RunArtifacts } from "./artifact-files.js";

/** The most of an input example read: examples are a few rows. */
const MAX_EXAMPLE_BYTES = 1024 * 1024;

export interface RunModel {
  /** The directory, relative to the run's artifact root ("" = the root itself). */
  path: string;
  /** What a version registered from it records as `source` (as the CLI joins it). */
  source: string;
  runId: string;
  /** Whether it is an ONNX bundle (served as it is) or another MLflow flavor (converted when loaded). */
  onnx: boolean;
  signature: Signature | null;
  /** The signature as a registration sends it: the JSON text the CLI stores, or null. */
  signatureJson: string | null;
  /** input_example.json (split orient) and serving_input_example.json, parsed; null when absent. */
  inputExample: unknown;
  servingInputExample: unknown;
}

/**
 * Reads the model in the run's directory `relative`. NOT_FOUND without an MLmodel there;
 * ARTIFACT_CORRUPT naming the problem when the bundle is broken. S3 models are downloaded
 * (verified against their manifest) into a temporary directory removed afterwards.
 */
export async function readRunModel(artifacts: RunArtifacts, relative: string): Promise<RunModel> {
  const source = uriOf(artifacts, relative);
  const shown = relative === "" ? "the artifact root" : `"${relative}"`;
  const mlmodel = relative === "" ? MLMODEL_FILE : `${relative}/${MLMODEL_FILE}`;
  if (!(await artifacts.store.exists(uriOf(artifacts, mlmodel)))) {
    throw new RegistryError(
      "NOT_FOUND",
      `run ${artifacts.runId} has no ${MLMODEL_FILE} in ${shown}`,
    );
  }
  await checkInsideRoot(artifacts, relative);
  const cacheDir = await mkdtemp(path.join(tmpdir(), "mldeploy-run-model-"));
  try {
    const local = await new ModelCache({ dir: cacheDir }).fetch(source, "run-model");
    let model: Awaited<ReturnType<typeof readRegistrableModel>>;
    try {
      model = await readRegistrableModel(local);
    } catch (error) {
      if (!(error instanceof BundleError)) throw error;
      throw new RegistryError(
        "ARTIFACT_CORRUPT",
        `the model in ${shown} cannot be registered: ${error.message}`,
      );
    }
    const root = await bundleRoot(local);
    return {
      path: relative,
      source,
      runId: artifacts.runId,
      onnx: model.onnx,
      signature: model.signature ?? null,
      signatureJson: model.signature ? JSON.stringify(model.signature) : null,
      inputExample: await readJson(root, INPUT_EXAMPLE_FILE),
      servingInputExample: await readJson(root, SERVING_INPUT_EXAMPLE_FILE),
    };
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
}

/**
 * A local model directory must really lie in the run's root: a directory link planted there
 * would have the bundle read (and registered) from wherever it leads.
 */
async function checkInsideRoot(artifacts: RunArtifacts, relative: string): Promise<void> {
  const root = parseArtifactUri(artifacts.root);
  if (root.kind !== "local" || relative === "") return;
  try {
    await realPathWithin(await realpath(root.path), localPathUnder(root.path, relative));
  } catch (error) {
    if (error instanceof UnsafeFile) {
      throw new RequestValidationError(
        `invalid request query field "path": "${relative}" leads out of the run's artifact ` +
          "root through a symbolic link; it is not read",
        "path",
      );
    }
    // Absent: the MLmodel check above already answered NOT_FOUND, unless it just went away.
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new RegistryError("NOT_FOUND", `run ${artifacts.runId} has no "${relative}"`);
    }
    throw error;
  }
}

/** A small JSON file of the bundle, parsed; null when absent, unreadable or not JSON. */
async function readJson(root: string, name: string): Promise<unknown> {
  try {
    const file = await resolveBundleFile(root, name);
    if (file === undefined) return null;
    return JSON.parse((await readBundleFile(file.realPath, MAX_EXAMPLE_BYTES)).toString("utf8"));
  } catch {
    // An example is a courtesy: a broken one is not shown, and the model is still registrable.
    return null;
  }
}
