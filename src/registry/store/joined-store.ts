import type {
  DeploymentStore,
  ModelRegistryStore,
  MonitorResultStore,
  RegistryStore,
  TrackingStore,
} from "./types.js";

/** The arguments of a store method. */
type Args<K extends keyof RegistryStore> = Parameters<
  Extract<RegistryStore[K], (...args: never[]) => unknown>
>;

/**
 * A tracking store and a model-registry store over one connection (a database, a registry
 * server), offered as the one RegistryStore a registry URL opens: each method goes to the part
 * that holds it, and close() releases the shared connection once. Code that needs one side
 * only can take `tracking` or `models`.
 */
export class JoinedStore implements RegistryStore {
  readonly description: string;

  constructor(
    readonly tracking: TrackingStore,
    readonly models: ModelRegistryStore,
    /** Releases the connection both parts share. */
    private readonly releaseConnection: () => Promise<void>,
    /** Deployment heartbeats, over the same connection. */
    readonly deployments: DeploymentStore,
    /** Monitoring results (drift and error per window), over the same connection. */
    readonly monitoring: MonitorResultStore,
  ) {
    this.description = tracking.description;
  }

  // ── tracking ──

  createExperiment(...args: Args<"createExperiment">) {
    return this.tracking.createExperiment(...args);
  }
  getExperiment(...args: Args<"getExperiment">) {
    return this.tracking.getExperiment(...args);
  }
  findExperimentByName(...args: Args<"findExperimentByName">) {
    return this.tracking.findExperimentByName(...args);
  }
  listExperiments() {
    return this.tracking.listExperiments();
  }
  listExperimentSummaries() {
    return this.tracking.listExperimentSummaries();
  }
  getExperimentKeys(...args: Args<"getExperimentKeys">) {
    return this.tracking.getExperimentKeys(...args);
  }
  createRun(...args: Args<"createRun">) {
    return this.tracking.createRun(...args);
  }
  getRun(...args: Args<"getRun">) {
    return this.tracking.getRun(...args);
  }
  listRuns(...args: Args<"listRuns">) {
    return this.tracking.listRuns(...args);
  }
  searchRuns(...args: Args<"searchRuns">) {
    return this.tracking.searchRuns(...args);
  }
  logParams(...args: Args<"logParams">) {
    return this.tracking.logParams(...args);
  }
  logMetrics(...args: Args<"logMetrics">) {
    return this.tracking.logMetrics(...args);
  }
  getMetricHistory(...args: Args<"getMetricHistory">) {
    return this.tracking.getMetricHistory(...args);
  }
  setRunTags(...args: Args<"setRunTags">) {
    return this.tracking.setRunTags(...args);
  }
  endRun(...args: Args<"endRun">) {
    return this.tracking.endRun(...args);
  }

  // ── model registry ──

  createRegisteredModel(...args: Args<"createRegisteredModel">) {
    return this.models.createRegisteredModel(...args);
  }
  getRegisteredModel(...args: Args<"getRegisteredModel">) {
    return this.models.getRegisteredModel(...args);
  }
  listRegisteredModels() {
    return this.models.listRegisteredModels();
  }
  createModelVersion(...args: Args<"createModelVersion">) {
    return this.models.createModelVersion(...args);
  }
  getModelVersion(...args: Args<"getModelVersion">) {
    return this.models.getModelVersion(...args);
  }
  listModelVersions(...args: Args<"listModelVersions">) {
    return this.models.listModelVersions(...args);
  }
  setAlias(...args: Args<"setAlias">) {
    return this.models.setAlias(...args);
  }
  deleteAlias(...args: Args<"deleteAlias">) {
    return this.models.deleteAlias(...args);
  }
  getModelVersionByAlias(...args: Args<"getModelVersionByAlias">) {
    return this.models.getModelVersionByAlias(...args);
  }
  setModelVersionTags(...args: Args<"setModelVersionTags">) {
    return this.models.setModelVersionTags(...args);
  }
  deleteModelVersionTag(...args: Args<"deleteModelVersionTag">) {
    return this.models.deleteModelVersionTag(...args);
  }

  // ── deployments ──

  reportDeployment(...args: Args<"reportDeployment">) {
    return this.deployments.reportDeployment(...args);
  }
  listDeployments() {
    return this.deployments.listDeployments();
  }
  removeDeployment(...args: Args<"removeDeployment">) {
    return this.deployments.removeDeployment(...args);
  }

  // ── monitoring results ──

  putMonitorResults(...args: Args<"putMonitorResults">) {
    return this.monitoring.putMonitorResults(...args);
  }
  searchMonitorResults(...args: Args<"searchMonitorResults">) {
    return this.monitoring.searchMonitorResults(...args);
  }

  close(): Promise<void> {
    return this.releaseConnection();
  }
}
