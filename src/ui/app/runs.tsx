import { getExperiment, listRuns, type Experiment, type Run } from "./api.js";
import { formatDuration, formatMetric, formatTime } from "./format.js";
import { Loaded, useLoad } from "./load.js";
import { href, type Location } from "./router.js";
import { NotFoundPage } from "./not-found.js";
import { useTitle } from "./title.js";

/** A sortable column: `name`, `status`, `start`, `duration`, `metrics.<key>` or `params.<key>`. */
interface Column {
  id: string;
  label: string;
  numeric: boolean;
  value: (run: Run) => string | number | undefined;
  show: (run: Run) => string;
}

const duration = (run: Run) => (run.endTime === null ? undefined : run.endTime - run.startTime);

function columnsOf(runs: Run[]): Column[] {
  const metricKeys = [...new Set(runs.flatMap((run) => Object.keys(run.latestMetrics)))].sort();
  const paramKeys = [...new Set(runs.flatMap((run) => Object.keys(run.params)))].sort();
  return [
    { id: "name", label: "Run", numeric: false, value: (r) => r.name || r.id, show: () => "" },
    {
      id: "status",
      label: "Status",
      numeric: false,
      value: (r) => r.status,
      show: (r) => r.status,
    },
    {
      id: "start",
      label: "Started",
      numeric: true,
      value: (r) => r.startTime,
      show: (r) => formatTime(r.startTime),
    },
    {
      id: "duration",
      label: "Duration",
      numeric: true,
      value: duration,
      show: (r) => formatDuration(duration(r) ?? null),
    },
    ...metricKeys.map((key) => ({
      id: `metrics.${key}`,
      label: key,
      numeric: true,
      value: (r: Run) => r.latestMetrics[key],
      show: (r: Run) => formatMetric(r.latestMetrics[key]),
    })),
    ...paramKeys.map((key) => ({
      id: `params.${key}`,
      label: key,
      numeric: false,
      value: (r: Run) => r.params[key],
      show: (r: Run) => r.params[key] ?? "",
    })),
  ];
}

/**
 * Runs without the value last whatever the direction, as MLflow's search_runs orders them (its
 * SQL tracking store sorts by the field's presence first: mlflow/store/tracking/sqlalchemy_store.py).
 */
function sortRuns(runs: Run[], column: Column | undefined, descending: boolean): Run[] {
  if (column === undefined) return runs;
  const sign = descending ? -1 : 1;
  return [...runs].sort((a, b) => {
    const x = column.value(a);
    const y = column.value(b);
    if (x === undefined || y === undefined) return x === y ? 0 : x === undefined ? 1 : -1;
    if (typeof x === "number" && typeof y === "number") return sign * (x - y);
    return sign * String(x).localeCompare(String(y), undefined, { numeric: true });
  });
}

async function loadExperimentRuns(id: string): Promise<{ experiment: Experiment; runs: Run[] }> {
  const experiment = await getExperiment(id);
  return { experiment, runs: await listRuns(id) };
}

export function RunsPage(props: { id: string; location: Location }) {
  const { id, location } = props;
  useTitle("Runs");
  const sort = location.query.get("sort") ?? undefined;
  const descending = location.query.get("order") === "desc";
  const { state, retry } = useLoad(() => loadExperimentRuns(id), id);
  return (
    <Loaded
      state={state}
      retry={retry}
      notFound={() => <NotFoundPage what={`Experiment “${id}”`} />}
    >
      {({ experiment, runs }) => {
        const columns = columnsOf(runs);
        const sorted = sortRuns(
          runs,
          columns.find((column) => column.id === sort),
          descending,
        );
        const metricCount = columns.filter((c) => c.id.startsWith("metrics.")).length;
        return (
          <>
            <nav aria-label="Breadcrumb" class="crumbs">
              <a href={href("/experiments")}>Experiments</a> /
            </nav>
            <h1>{experiment.name}</h1>
            <p>
              {runs.length} run{runs.length === 1 ? "" : "s"}
            </p>
            {runs.length === 0 ? (
              <p>No runs in this experiment yet.</p>
            ) : (
              <div class="scroll" role="region" aria-label="Runs" tabindex={0}>
                <table class="runs">
                  <thead>
                    <tr>
                      {columns.map((column, index) => {
                        const active = column.id === sort;
                        const next = active && !descending ? "desc" : "asc";
                        const group =
                          index >= 4 && index < 4 + metricCount
                            ? "metric"
                            : index >= 4
                              ? "param"
                              : undefined;
                        return (
                          <th
                            scope="col"
                            key={column.id}
                            class={column.numeric ? "number" : undefined}
                            aria-sort={
                              active ? (descending ? "descending" : "ascending") : undefined
                            }
                            data-column={column.id}
                          >
                            <a
                              href={href(`/experiments/${encodeURIComponent(id)}`, {
                                sort: column.id,
                                order: next,
                              })}
                              title={group ? `${group} ${column.label}` : undefined}
                            >
                              {column.label}
                              {active ? (descending ? " ↓" : " ↑") : ""}
                            </a>
                          </th>
                        );
                      })}
                    </tr>
                  </thead>
                  <tbody>
                    {sorted.map((run) => (
                      <tr key={run.id} data-run={run.id}>
                        {columns.map((column) =>
                          column.id === "name" ? (
                            <th scope="row" key={column.id} title={run.id}>
                              {run.name || run.id}
                            </th>
                          ) : (
                            <td
                              key={column.id}
                              class={column.numeric ? "number" : undefined}
                              data-column={column.id}
                            >
                              {column.show(run)}
                            </td>
                          ),
                        )}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </>
        );
      }}
    </Loaded>
  );
}
