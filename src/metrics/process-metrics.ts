import { collectDefaultMetrics, Registry } from "prom-client";

/**
 * What a job's --metrics-port serves: the job's metrics and the process's own. Only the job's
 * are pushed to a Pushgateway: the gateway keeps a group until it is replaced, so a finished
 * process's memory figures would linger there as if current.
 */
export function withProcessMetrics(jobRegistry: Registry): Registry {
  const processRegistry = new Registry();
  collectDefaultMetrics({ register: processRegistry });
  return Registry.merge([processRegistry, jobRegistry]);
}
