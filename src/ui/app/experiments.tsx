import { listExperiments, listRuns, MAX_RUNS, type Experiment } from "./api.js";
import { formatTime } from "./format.js";
import { Loaded, useLoad } from "./load.js";
import { href, replace, type Location } from "./router.js";
import { useTitle } from "./title.js";

interface ExperimentRow extends Experiment {
  runCount: number;
  lastActivity: number;
}

/**
 * Every experiment with its run count and last activity (latest run start or end, else its
 * creation). Counted from the runs list for now; server-side counts come with paging.
 */
async function loadExperiments(): Promise<ExperimentRow[]> {
  const experiments = await listExperiments();
  return Promise.all(
    experiments.map(async (experiment) => {
      const runs = await listRuns(experiment.id);
      const lastActivity = Math.max(
        experiment.createdAt,
        ...runs.map((run) => run.endTime ?? run.startTime),
      );
      return { ...experiment, runCount: runs.length, lastActivity };
    }),
  );
}

export function ExperimentsPage(props: { location: Location }) {
  useTitle("Experiments");
  const q = props.location.query.get("q") ?? "";
  const { state, retry } = useLoad(loadExperiments, "experiments");
  return (
    <>
      <h1>Experiments</h1>
      <div class="toolbar" role="search">
        <label for="experiment-search">Search by name</label>
        <input
          id="experiment-search"
          type="search"
          value={q}
          onInput={(event) => replace(href("/experiments", { q: event.currentTarget.value }))}
        />
      </div>
      <Loaded state={state} retry={retry} notFound={(message) => <p>{message}</p>}>
        {(experiments) => {
          const needle = q.trim().toLowerCase();
          const shown = experiments.filter((e) => e.name.toLowerCase().includes(needle));
          if (shown.length === 0) {
            return (
              <p>
                {experiments.length === 0
                  ? "No experiments yet: `mldeploy train` logs one."
                  : `No experiment name contains “${q}”.`}
              </p>
            );
          }
          return (
            <div class="scroll" role="region" aria-label="Experiments" tabindex={0}>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col" class="number">
                      Runs
                    </th>
                    <th scope="col">Last activity</th>
                  </tr>
                </thead>
                <tbody>
                  {shown.map((experiment) => (
                    <tr key={experiment.id}>
                      <td>
                        <a href={href(`/experiments/${encodeURIComponent(experiment.id)}`)}>
                          {experiment.name}
                        </a>
                      </td>
                      <td class="number">
                        {experiment.runCount >= MAX_RUNS
                          ? `${MAX_RUNS}+`
                          : String(experiment.runCount)}
                      </td>
                      <td>{formatTime(experiment.lastActivity)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          );
        }}
      </Loaded>
    </>
  );
}
