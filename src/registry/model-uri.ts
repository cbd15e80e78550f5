import { RegistryError } from "./errors.js";
import { validateAlias, validateModelName } from "./store/names.js";

/**
 * Where a model comes from, as MLflow writes it:
 *   models:/<name>@<alias>     follows the alias (movable)
 *   models:/<name>/<version>   one version
 *   models:/<name>/latest      the highest version (movable)
 *   runs:/<run_id>/<path>      an artifact directory of a run
 *   s3://bucket/key            a bundle in S3
 *   file:///abs/path or a path a bundle on this disk
 */
export type ModelUri =
  | { kind: "alias"; name: string; alias: string }
  | { kind: "version"; name: string; version: number }
  | { kind: "latest"; name: string }
  | { kind: "run"; runId: string; path: string }
  | { kind: "artifact"; uri: string };

const FORMS =
  "models:/<name>@<alias>, models:/<name>/<version>, models:/<name>/latest, runs:/<run_id>/<path>, s3://bucket/key or a directory";

function bad(uri: string, why: string): RegistryError {
  return new RegistryError("INVALID_VALUE", `model URI "${uri}" ${why}; use ${FORMS}`);
}

export function parseModelUri(uri: string): ModelUri {
  if (uri.startsWith("models:")) return parseModels(uri);
  if (uri.startsWith("runs:")) return parseRuns(uri);
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(uri)?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme !== "s3" && scheme !== "file") {
    throw bad(uri, `has an unsupported scheme "${scheme}:"`);
  }
  return { kind: "artifact", uri };
}

function parseModels(uri: string): ModelUri {
  const rest = uri.slice("models:".length).replace(/^\/+/, "");
  const at = rest.indexOf("@");
  if (at >= 0) {
    const name = rest.slice(0, at);
    const alias = rest.slice(at + 1);
    if (!name || !alias) throw bad(uri, "needs a name and an alias");
    validateModelName(name);
    validateAlias(alias);
    return { kind: "alias", name, alias };
  }
  const slash = rest.lastIndexOf("/");
  if (slash <= 0) throw bad(uri, "names no version or alias");
  const name = rest.slice(0, slash);
  const version = rest.slice(slash + 1);
  validateModelName(name);
  if (version === "latest") return { kind: "latest", name };
  if (!/^[1-9][0-9]*$/.test(version))
    throw bad(uri, `has "${version}" where a version number belongs`);
  return { kind: "version", name, version: Number(version) };
}

function parseRuns(uri: string): ModelUri {
  const rest = uri.slice("runs:".length).replace(/^\/+/, "");
  const slash = rest.indexOf("/");
  const runId = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? "" : rest.slice(slash + 1).replace(/\/+$/, "");
  if (!/^[0-9a-f]{32}$/.test(runId)) throw bad(uri, `has "${runId}" where a run id belongs`);
  if (!path) throw bad(uri, "names no artifact path inside the run (e.g. runs:/<id>/model)");
  return { kind: "run", runId, path };
}

/** Registry URIs that can point elsewhere later, so serve polls them. */
export function isMovable(uri: ModelUri): boolean {
  return uri.kind === "alias" || uri.kind === "latest";
}
