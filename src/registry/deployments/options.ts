import { intSetting } from "../../config/settings.js";

/** Heartbeats every 10 s: a stopped deployment leaves the list after 30 s without a beat. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 10_000;

/** The heartbeatIntervalMs setting of serve, stream and batch (flag, MLDEPLOY_* env, config). */
export const heartbeatIntervalSetting = () =>
  intSetting(0, 86_400_000)
    .default(DEFAULT_HEARTBEAT_INTERVAL_MS)
    .describe(
      "How often this deployment reports itself to the registry (mode, endpoint, model version, rate) for the Deployments page, when its model comes from the registry (models:/, runs:/); 0 = never",
    );
