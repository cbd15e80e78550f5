import type uPlot from "uplot";
import type { Run } from "../../registry/store/types.js";
import { listBatchRuns } from "./api-deployments.js";
import { Chart, type ChartSeries } from "./chart.js";
import "./deployments.css";
import { formatDuration, formatMetric, formatTime } from "./format.js";
import { Loaded, useLoad } from "./load.js";
import { href, type Location } from "./router.js";
import { useTitle } from "./title.js";

/** The counts each batch run logs (src/batch/run.ts), as chart series and table columns. */
const COUNTS = [
  { key: "rows_read", label: "Rows read", stroke: "#0a58ca" },
  { key: "rows_scored", label: "Rows scored", stroke: "#1a7f37" },
  { key: "rows_rejected", label: "Rows rejected", stroke: "#cf222e" },
] as const;

const SERIES: ChartSeries[] = COUNTS.map(({ label, stroke }) => ({ label, stroke }));

/** A run's duration: the one it logged, else from its start to its end (or now, if running). */
function durationMs(run: Run): number | null {
  const logged = run.latestMetrics.duration_s;
  if (logged !== undefined) return Math.round(logged * 1000);
  return run.endTime === null ? null : run.endTime - run.startTime;
}

/** Jobs by name, each with its runs newest first; jobs ordered by their latest run. */
function byJob(runs: Run[]): Map<string, Run[]> {
  const jobs = new Map<string, Run[]>();
  for (const run of [...runs].sort((a, b) => b.startTime - a.startTime)) {
    const job = run.tags.job ?? "(no job tag)";
    jobs.set(job, [...(jobs.get(job) ?? []), run]);
  }
  return jobs;
}

export function BatchHistoryPage(props: { location: Location }) {
  useTitle("Batch jobs");
  const { state, retry } = useLoad(listBatchRuns, "batch-runs");
  const wanted = props.location.query.get("job") ?? "";
  return (
    <>
      <h1>Batch jobs</h1>
      <Loaded state={state} retry={retry} notFound={(message) => <p>{message}</p>}>
        {(runs) => {
          if (runs.length === 0) {
            return (
              <p data-empty>
                No batch job has run yet. Each run of{" "}
                <code class="command">
                  mldeploy batch --model models:/&lt;name&gt;@production …
                </code>{" "}
                is recorded here (experiment “batch”).
              </p>
            );
          }
          const jobs = byJob(runs);
          const job = jobs.has(wanted) ? wanted : [...jobs.keys()][0];
          return (
            <>
              <nav aria-label="Jobs">
                <ul class="jobs">
                  {[...jobs.entries()].map(([name, of]) => (
                    <li key={name}>
                      <a
                        href={href("/batch", { job: name })}
                        aria-current={name === job ? "page" : undefined}
                      >
                        {name}
                      </a>{" "}
                      ({of.length} {of.length === 1 ? "run" : "runs"})
                    </li>
                  ))}
                </ul>
              </nav>
              {wanted !== "" && wanted !== job && (
                <p role="alert">
                  No batch job is named “{wanted}”; showing {job}.
                </p>
              )}
              <JobHistory job={job} runs={jobs.get(job) ?? []} />
            </>
          );
        }}
      </Loaded>
    </>
  );
}

function JobHistory(props: { job: string; runs: Run[] }) {
  const { job, runs } = props;
  const ascending = [...runs].reverse();
  const data: uPlot.AlignedData = [
    ascending.map((run) => run.startTime / 1000),
    ...COUNTS.map(({ key }) => ascending.map((run) => run.latestMetrics[key] ?? null)),
  ];
  return (
    <section aria-labelledby="job-title">
      <h2 id="job-title">{job}</h2>
      <Chart
        label={`Rows read, scored and rejected per run of ${job}, over time`}
        data={data}
        series={SERIES}
        xLabel="Run start"
        yLabel="Rows"
        xTime
      />
      <div class="scroll" role="region" aria-label={`Runs of ${job}`} tabindex={0}>
        <table class="batch-runs">
          <thead>
            <tr>
              <th scope="col">Started</th>
              <th scope="col">Status</th>
              <th scope="col">Model version</th>
              {COUNTS.map(({ key, label }) => (
                <th key={key} scope="col" class="number">
                  {label}
                </th>
              ))}
              <th scope="col" class="number">
                Duration
              </th>
              <th scope="col">Why it failed</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((run) => (
              <tr key={run.id} data-run={run.id}>
                <td>
                  <a href={href(`/runs/${encodeURIComponent(run.id)}`)}>
                    {formatTime(run.startTime)}
                  </a>
                </td>
                <td data-column="status">{run.status}</td>
                <td data-column="version">{run.tags.model_version ?? "—"}</td>
                {COUNTS.map(({ key }) => (
                  <td key={key} data-column={key} class="number">
                    {formatMetric(run.latestMetrics[key])}
                  </td>
                ))}
                <td data-column="duration" class="number">
                  {formatDuration(durationMs(run))}
                </td>
                <td data-column="reason">{run.tags.failure_reason ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
