/**
 * `node dist/bench/import-child.js '<ImportChildSpec JSON>'` (spawned by bench/import.ts): one
 * conversion through `mldeploy import`'s library call in a fresh process, so that its peak
 * memory is the conversion's own and not the benchmark's. Prints one JSON ImportChildReport.
 */
import { importToBundle } from "../import/import-bundle.js";

export interface ImportChildSpec {
  source: string;
  out: string;
  features: string[];
  output?: string;
}

export interface ImportChildReport {
  /** From the call to importToBundle to the bundle written (no process start, no module load). */
  convertSeconds: number;
  /** The process's peak resident set size, KiB (getrusage ru_maxrss). */
  maxRssKiB: number;
  estimator: string;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? "{}") as ImportChildSpec;
  const started = performance.now();
  const result = await importToBundle(spec.source, {
    out: spec.out,
    features: spec.features,
    ...(spec.output ? { output: spec.output } : {}),
  });
  const report: ImportChildReport = {
    convertSeconds: (performance.now() - started) / 1000,
    maxRssKiB: process.resourceUsage().maxRSS,
    estimator: result.provenance.importer.estimator,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
