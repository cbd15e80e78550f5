/** The registry's monitoring results, as the model page's Monitoring section reads them. */
import type {
  MonitorColumnSummary,
  MonitorSummary,
  MonitorVersionSummary,
  MonitorWindowSummary,
} from "../../registry/store/types.js";
import { fetchArtifact } from "./api-artifacts.js";
import { getJson } from "./api.js";

export type { MonitorColumnSummary, MonitorSummary, MonitorVersionSummary, MonitorWindowSummary };

/** The report `mldeploy monitor` stores in its run (monitor/job/types.ts REPORT_ARTIFACT). */
export const REPORT_ARTIFACT = "report.html";
/** The result beside it (RESULT_ARTIFACT): the drift test each column was judged by. */
export const RESULT_ARTIFACT = "result.json";

/** Windows per version the charts draw. */
export const SUMMARY_WINDOWS = 200;

export const loadMonitorSummary = (model: string) =>
  getJson<MonitorSummary>("/monitor-results/summary", {
    model,
    windows: String(SUMMARY_WINDOWS),
  });

/** The report's HTML, fetched with this tab's token (an iframe's src could not send it). */
export async function loadReport(runId: string): Promise<string> {
  const { blob } = await fetchArtifact(runId, REPORT_ARTIFACT);
  return blob.text();
}

/** How a column's drift was judged: the test, whether its score is a p-value or a distance. */
export interface DriftTest {
  method: string;
  scoreKind: "p_value" | "distance";
  threshold: number;
}

/**
 * The drift test of each column of `version`, read from the run's result.json (the results
 * table holds numbers only). Read defensively: the file is another program's output, and a
 * shape this page does not know leaves the columns without a method rather than breaking it.
 */
export async function loadDriftTests(
  runId: string,
  version: string,
): Promise<Record<string, DriftTest>> {
  const { blob } = await fetchArtifact(runId, RESULT_ARTIFACT);
  const result = JSON.parse(await blob.text()) as unknown;
  const tests: Record<string, DriftTest> = {};
  const versions = (result as { versions?: unknown }).versions;
  if (!Array.isArray(versions)) return tests;
  const report = versions.find((v: { version?: unknown }) => v?.version === version) as
    { columns?: unknown } | undefined;
  if (!Array.isArray(report?.columns)) return tests;
  for (const column of report.columns as { name?: unknown; drift?: Record<string, unknown> }[]) {
    const drift = column?.drift;
    if (
      typeof column?.name === "string" &&
      drift?.status === "ok" &&
      typeof drift.method === "string" &&
      typeof drift.threshold === "number" &&
      (drift.scoreKind === "p_value" || drift.scoreKind === "distance")
    ) {
      tests[column.name] = {
        method: drift.method,
        scoreKind: drift.scoreKind,
        threshold: drift.threshold,
      };
    }
  }
  return tests;
}
