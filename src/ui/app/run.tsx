import { getJson, type Run } from "./api.js";
import { RunArtifacts } from "./artifacts.js";
import { Loaded, useLoad } from "./load.js";
import { NotFoundPage } from "./not-found.js";
import type { Location } from "./router.js";
import { useTitle } from "./title.js";

// A minimal run page, only so that the artifacts panel can be seen and tested on this branch:
// the run page proper (params, metrics, charts) is another change, which places <RunArtifacts>.
export function RunPage(props: { id: string; location: Location }) {
  useTitle("Run");
  const { state, retry } = useLoad(
    () => getJson<Run>(`/runs/${encodeURIComponent(props.id)}`),
    props.id,
  );
  return (
    <Loaded state={state} retry={retry} notFound={() => <NotFoundPage what={`Run ${props.id}`} />}>
      {(run) => (
        <>
          <h1>{run.name}</h1>
          <RunArtifacts run={run} />
        </>
      )}
    </Loaded>
  );
}
