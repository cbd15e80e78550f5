/**
 * `node dist/serve/process-main.js '<options JSON>'`: runs runServe with options given as one
 * JSON argument. The benchmark and the process-level tests start servers this way; users go
 * through the CLI (`mldeploy serve`), which adds flags, environment and config files.
 */
import { runServe } from "./run.js";

runServe(JSON.parse(process.argv[2] ?? "{}") as Parameters<typeof runServe>[0]).catch(
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
