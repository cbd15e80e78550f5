import { listExperimentSummaries } from "./api-runs.js";
import { formatTime } from "./format.js";
import { Loaded, useLoad } from "./load.js";
import { href, type Location } from "./router.js";
import { SearchBox } from "./search-box.js";
import { useTitle } from "./title.js";

export function ExperimentsPage(props: { location: Location }) {
  useTitle("Experiments");
  const q = props.location.query.get("q") ?? "";
  const { state, retry } = useLoad(listExperimentSummaries, "experiments");
  return (
    <>
      <h1>Experiments</h1>
      <SearchBox id="experiment-search" label="Search by name" path="/experiments" value={q} />
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
                      <td class="number">{experiment.runCount.toLocaleString("en")}</td>
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
