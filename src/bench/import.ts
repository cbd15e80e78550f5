/**
 * `npm run bench:import [-- --repeat 5]`
 *
 * What converting a model costs: the MLflow variant's RandomForest pipeline (MLflow model
 * directory → ONNX bundle, with the PU_DO declaration) and, for reference, the web service's
 * lin_reg.bin, each converted `repeat` times by `mldeploy import`'s own library call
 * (importToBundle) in a fresh child process. Reported: the child's wall time from spawn to exit
 * (what `mldeploy import` costs a user, Node's start included), the conversion alone, and the
 * child's peak RSS. Targets for the forest: ≤ 5 s and ≤ 1 GiB. The models are trained once by
 * Debian's scikit-learn (see original-service.ts); without it the benchmark says so and skips.
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { FOREST_FEATURES, FOREST_OUTPUT } from "./forest.js";
import type { ImportChildReport, ImportChildSpec } from "./import-child.js";
import { ORIGINAL_MODELS_ROOT, originalModels, trainingPythonMissing } from "./original-service.js";

const { values: args } = parseArgs({
  options: {
    repeat: { type: "string", default: "5" },
  },
});
const REPEAT = Math.max(1, Math.floor(Number(args.repeat)) || 1);
const GIB_KIB = 1024 * 1024;

interface Subject {
  name: string;
  source: string;
  /** The file whose bytes are converted (the model.pkl of an MLflow directory). */
  file: string;
  target?: { seconds: number; rssKiB: number };
}

interface Run extends ImportChildReport {
  wallSeconds: number;
  onnxBytes: number;
}

const CHILD = fileURLToPath(new URL("./import-child.js", import.meta.url));

async function convertOnce(subject: Subject, scratch: string, round: number): Promise<Run> {
  const out = path.join(scratch, `${path.basename(subject.file)}-${round}`);
  const spec: ImportChildSpec = {
    source: subject.source,
    out,
    features: FOREST_FEATURES,
    output: FOREST_OUTPUT,
  };
  const started = performance.now();
  const child = spawn(process.execPath, [CHILD, JSON.stringify(spec)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let stdout = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  const wallSeconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`converting ${subject.source} failed (exit code ${code})`);
  const report = JSON.parse(stdout.trim()) as ImportChildReport;
  const onnxBytes = (await stat(path.join(out, "model.onnx"))).size;
  await rm(out, { recursive: true, force: true });
  return { ...report, wallSeconds, onnxBytes };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

async function main(): Promise<void> {
  const missing = await trainingPythonMissing();
  if (missing !== undefined) {
    console.log(`mldeploy import benchmark skipped: ${missing}`);
    return;
  }
  const models = await originalModels(ORIGINAL_MODELS_ROOT);
  const subjects: Subject[] = [
    {
      name: "RandomForest pipeline (MLflow sklearn directory)",
      source: models.forestDir,
      file: models.forestPickle,
      target: { seconds: 5, rssKiB: GIB_KIB },
    },
    {
      name: "lin_reg.bin (DictVectorizer, LinearRegression)",
      source: models.linear,
      file: models.linear,
    },
  ];
  console.log(
    `mldeploy import benchmark: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), Node ${process.version}, ` +
      `each conversion in a fresh process, ${REPEAT} interleaved round(s), medians shown\n`,
  );
  const runs = new Map<Subject, Run[]>(subjects.map((subject) => [subject, []]));
  const scratch = await mkdtemp(path.join(os.tmpdir(), "mldeploy-bench-import-"));
  try {
    for (let round = 1; round <= REPEAT; round++) {
      for (const subject of subjects) {
        const run = await convertOnce(subject, scratch, round);
        runs.get(subject)?.push(run);
        console.log(
          `round ${round}: ${subject.name}: ${run.wallSeconds.toFixed(2)} s in all ` +
            `(conversion ${run.convertSeconds.toFixed(2)} s), peak RSS ${mib(run.maxRssKiB)}`,
        );
      }
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }

  console.log();
  const targets: string[] = [];
  for (const subject of subjects) {
    const done = runs.get(subject) ?? [];
    const wall = median(done.map((r) => r.wallSeconds));
    const worstWall = Math.max(...done.map((r) => r.wallSeconds));
    const rss = Math.max(...done.map((r) => r.maxRssKiB));
    const source = (await stat(subject.file)).size;
    console.log(
      `${subject.name}: ${done[0]?.estimator ?? "?"}, ${mb(source)} → ${mb(done[0]?.onnxBytes ?? NaN)} of ONNX: ` +
        `${wall.toFixed(2)} s in all (slowest ${worstWall.toFixed(2)} s; conversion alone ` +
        `${median(done.map((r) => r.convertSeconds)).toFixed(2)} s), peak RSS ${mib(rss)} (largest of ${done.length})`,
    );
    if (subject.target) {
      const met = wall <= subject.target.seconds && rss <= subject.target.rssKiB;
      targets.push(
        `forest conversion ≤ ${subject.target.seconds} s: ${wall.toFixed(2)} s (median, process wall time); ` +
          `≤ 1 GiB: ${mib(rss)} peak RSS, ${met ? "MET" : "NOT MET"}`,
      );
    }
  }
  console.log(`\ntargets:\n- ${targets.join("\n- ")}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
