import path from "node:path";
import type { Logger } from "../log/logger.js";
import { readBundle, readRegistrableModel } from "../model/bundle.js";
import { artifactStoreFor, type ArtifactStoreOptions } from "./artifacts/open.js";
import { ModelCache } from "./artifacts/cache.js";
import { joinArtifactUri, parseArtifactUri } from "./artifacts/uri.js";
import { RegistryError } from "./errors.js";
import { isMovable, parseModelUri } from "./model-uri.js";
import { DEFAULT_DATA_DIR, openStore } from "./store/open-store.js";
import type {
  Experiment,
  MetricInput,
  ModelVersion,
  Run,
  RunStatus,
  RegistryStore,
} from "./store/types.js";

export interface RegistryOptions {
  /** Tracking store: unset = SQLite under dataDir; `sqlite:…`, `postgres://…`, `http(s)://…`. */
  url?: string;
  /** Default `./mldeploy-data`: the SQLite file, local artifacts and the model cache. */
  dataDir?: string;
  /** Where new experiments keep artifacts: a directory or `s3://bucket/prefix`. Default `<dataDir>/artifacts`. */
  artifactRoot?: string;
  /** Downloaded models. Default `<dataDir>/cache/models`. */
  cacheDir?: string;
  /** Bearer token for an http(s) registry (registry-server). */
  token?: string;
  /** S3 endpoint/region overrides (otherwise the AWS environment and MLDEPLOY_S3_ENDPOINT). */
  s3?: ArtifactStoreOptions;
  /** Where a PostgreSQL store logs the transient failures it retries. Default: nowhere. */
  logger?: Logger;
}

/** Registry settings from MLDEPLOY_* variables, for library users who configure as the CLI does. */
export function registryOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): RegistryOptions {
  const value = (name: string) => (env[name]?.trim() ? env[name] : undefined);
  return {
    url: value("MLDEPLOY_REGISTRY_URL"),
    dataDir: value("MLDEPLOY_DATA_DIR"),
    artifactRoot: value("MLDEPLOY_ARTIFACT_ROOT"),
    cacheDir: value("MLDEPLOY_CACHE_DIR"),
    token: value("MLDEPLOY_REGISTRY_TOKEN"),
  };
}

/** A model URI turned into a local bundle directory. */
export interface LocalModel {
  path: string;
  /** Registered model name (for registry URIs). */
  name?: string;
  /** Registered version, or the run id for runs:/ URIs. */
  version?: string;
  /** The URI may point at another version later (an alias, latest). */
  movable: boolean;
  /** Run that produced the model, when the registry knows it. */
  runId?: string;
}

/**
 * Tracking and model registry in the spirit of MLflow: experiments and runs with params,
 * metrics and artifacts; registered models with versions and aliases; model URIs resolved to
 * local directories through a download cache. The CLI, serve, batch and stream all use it.
 *
 *   const registry = await Registry.open();
 *   const run = await registry.startRun({ experiment: "nyc-taxi" });
 *   await run.logParams({ alpha: 0 });
 *   await run.logMetric("rmse", 5.2);
 *   const version = await run.logModel("./model", { register: "ride-duration" });
 *   await run.end();
 *   await registry.setAlias("ride-duration", "production", version!.version);
 */
export class Registry {
  private constructor(
    readonly store: RegistryStore,
    /** The local data directory (SQLite store, artifacts and caches by default). */
    readonly dataDir: string,
    private readonly cache: ModelCache,
    private readonly s3: ArtifactStoreOptions,
  ) {}

  static async open(options: RegistryOptions = {}): Promise<Registry> {
    const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
    const artifactRoot = options.artifactRoot ?? path.resolve(dataDir, "artifacts");
    const store = await openStore(options.url, {
      dataDir,
      artifactRoot,
      token: options.token,
      logger: options.logger,
    });
    const cache = new ModelCache({ dir: options.cacheDir, dataDir, store: options.s3 });
    return new Registry(store, dataDir, cache, options.s3 ?? {});
  }

  /** The experiment of that name, created (with the default artifact location) if missing. */
  async experiment(name: string): Promise<Experiment> {
    const found = await this.store.findExperimentByName(name);
    if (found) return found;
    try {
      return await this.store.createExperiment(name);
    } catch (error) {
      // Another process created it between our lookup and our insert.
      if (error instanceof RegistryError && error.code === "ALREADY_EXISTS") {
        const created = await this.store.findExperimentByName(name);
        if (created) return created;
      }
      throw error;
    }
  }

  async startRun(
    options: { experiment?: string; name?: string; tags?: Record<string, string> } = {},
  ): Promise<ActiveRun> {
    const experiment = await this.experiment(options.experiment ?? "Default");
    const run = await this.store.createRun({
      experimentId: experiment.id,
      name: options.name,
      tags: options.tags,
    });
    return new ActiveRun(this, run);
  }

  /** Uploads a local directory under a run's artifact root; returns its URI. */
  async logArtifacts(runId: string, localDir: string, artifactPath: string): Promise<string> {
    const run = await this.store.getRun(runId);
    const dest = joinArtifactUri(run.artifactUri, artifactPath);
    await artifactStoreFor(dest, this.s3).uploadDirectory(localDir, dest);
    return dest;
  }

  /** Uploads one file under a run's artifact root; returns its URI. */
  async logArtifact(runId: string, localFile: string, artifactPath: string): Promise<string> {
    const run = await this.store.getRun(runId);
    const dest = joinArtifactUri(run.artifactUri, artifactPath);
    await artifactStoreFor(dest, this.s3).uploadFile(localFile, dest);
    return dest;
  }

  /**
   * Registers a model directory already in an artifact store (e.g. a run's `model`) as the
   * next version of `name`. The signature is read from the bundle to be shown without a download.
   */
  async registerModel(
    name: string,
    source: string,
    /** `signature`: the MLflow signature as JSON; null when the bundle has none; unset = read it. */
    options: {
      runId?: string;
      description?: string;
      signature?: string | null;
      /** Model version tags ("validated": "true", …). */
      tags?: Record<string, string>;
    } = {},
  ): Promise<ModelVersion> {
    let signature = options.signature;
    if (signature === undefined) {
      const local = await this.cache.fetch(source, `source/${source}`);
      // An MLflow sklearn/xgboost model or a pickle registers as it is; it is converted to
      // ONNX where it is loaded (see import/servable.ts).
      const model = await readRegistrableModel(local);
      signature = model.signature ? JSON.stringify(model.signature) : null;
    }
    return this.store.createModelVersion({
      name,
      source,
      runId: options.runId,
      signature: signature ?? undefined,
      description: options.description,
      tags: options.tags,
    });
  }

  setAlias(name: string, alias: string, version: number): Promise<void> {
    return this.store.setAlias(name, alias, version);
  }

  /** The version a registry URI names now (undefined for runs:/, s3:// and paths). */
  async modelVersionFor(uri: string): Promise<ModelVersion | undefined> {
    const parsed = parseModelUri(uri);
    switch (parsed.kind) {
      case "alias":
        return this.store.getModelVersionByAlias(parsed.name, parsed.alias);
      case "version":
        return this.store.getModelVersion(parsed.name, parsed.version);
      case "latest": {
        const model = await this.store.getRegisteredModel(parsed.name);
        if (model.latestVersion === null) {
          throw new RegistryError(
            "NOT_FOUND",
            `registered model "${parsed.name}" has no versions yet`,
          );
        }
        return this.store.getModelVersion(parsed.name, model.latestVersion);
      }
      default:
        return undefined;
    }
  }

  /**
   * Resolves any model URI to a local bundle directory, downloading through the cache (keyed
   * by version, so a restart does not download again).
   */
  async resolveModel(uri: string): Promise<LocalModel> {
    const parsed = parseModelUri(uri);
    if (parsed.kind === "artifact") {
      const location = parseArtifactUri(parsed.uri);
      const key = `uri/${parsed.uri}`;
      return {
        path: location.kind === "local" ? location.path : await this.cache.fetch(parsed.uri, key),
        movable: false,
      };
    }
    if (parsed.kind === "run") {
      const run = await this.store.getRun(parsed.runId);
      const source = joinArtifactUri(run.artifactUri, parsed.path);
      const local = await this.cache.fetch(source, `runs/${run.id}/${parsed.path}`);
      return { path: local, version: run.id, movable: false, runId: run.id };
    }
    const version = await this.modelVersionFor(uri);
    if (!version) throw new Error(`unreachable: ${uri} has no version`);
    const local = await this.cache.fetch(
      version.source,
      `models/${version.name}/${version.version}`,
    );
    return {
      path: local,
      name: version.name,
      version: String(version.version),
      movable: isMovable(parsed),
      runId: version.runId ?? undefined,
    };
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

/** A run being logged to; `end()` marks it finished (or failed). */
export class ActiveRun {
  constructor(
    private readonly registry: Registry,
    readonly info: Run,
  ) {}

  get id(): string {
    return this.info.id;
  }

  logParams(params: Record<string, string | number | boolean>): Promise<void> {
    return this.registry.store.logParams(this.id, params);
  }

  logMetric(key: string, value: number, step = 0): Promise<void> {
    return this.registry.store.logMetrics(this.id, [{ key, value, step }]);
  }

  logMetrics(metrics: MetricInput[] | Record<string, number>, step = 0): Promise<void> {
    const list = Array.isArray(metrics)
      ? metrics
      : Object.entries(metrics).map(([key, value]) => ({ key, value, step }));
    return this.registry.store.logMetrics(this.id, list);
  }

  setTags(tags: Record<string, string>): Promise<void> {
    return this.registry.store.setRunTags(this.id, tags);
  }

  logArtifacts(localDir: string, artifactPath: string): Promise<string> {
    return this.registry.logArtifacts(this.id, localDir, artifactPath);
  }

  logArtifact(localFile: string, artifactPath: string): Promise<string> {
    return this.registry.logArtifact(this.id, localFile, artifactPath);
  }

  /**
   * Uploads a model bundle as this run's artifact (`model` by default) and, with `register`,
   * registers it as the next version of that model.
   */
  async logModel(
    bundleDir: string,
    options: {
      artifactPath?: string;
      register?: string;
      description?: string;
      /** Tags of the registered version. */
      tags?: Record<string, string>;
    } = {},
  ): Promise<ModelVersion | undefined> {
    const bundle = await readBundle(bundleDir);
    const uri = await this.logArtifacts(bundleDir, options.artifactPath ?? "model");
    if (!options.register) return undefined;
    return this.registry.registerModel(options.register, uri, {
      runId: this.id,
      description: options.description,
      signature: bundle.signature ? JSON.stringify(bundle.signature) : null,
      tags: options.tags,
    });
  }

  async end(status: Exclude<RunStatus, "RUNNING"> = "FINISHED"): Promise<Run> {
    return this.registry.store.endRun(this.id, status);
  }
}
