import { Counter, type Registry } from "prom-client";

/**
 * `mldeploy_model_reloads_total{result}`: switches to the version a followed alias moved to,
 * in serve and stream alike. Both series start at 0, so an alert on failures sees them at once.
 */
export function modelReloadsCounter(registry: Registry, help: string): Counter<"result"> {
  const reloads = new Counter({
    name: "mldeploy_model_reloads_total",
    help,
    labelNames: ["result"] as const,
    registers: [registry],
  });
  reloads.inc({ result: "success" }, 0);
  reloads.inc({ result: "failure" }, 0);
  return reloads;
}
