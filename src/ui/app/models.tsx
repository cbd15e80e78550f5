import { listModels, type RegisteredModel } from "./api-models.js";
import { formatTime } from "./format.js";
import { Loaded, useLoad } from "./load.js";
import "./models.css";
import { href, type Location } from "./router.js";
import { SearchBox } from "./search-box.js";
import { useTitle } from "./title.js";

export const modelHref = (name: string) => href(`/models/${encodeURIComponent(name)}`);

/** "@production → v3" items, by alias name. */
export function AliasList(props: { aliases: Record<string, number> }) {
  const entries = Object.entries(props.aliases);
  if (entries.length === 0) return <span class="muted">none</span>;
  return (
    <ul class="alias-list">
      {entries.map(([alias, version]) => (
        <li key={alias}>
          <span class="alias">@{alias}</span> → v{version}
        </li>
      ))}
    </ul>
  );
}

/** How to get a first model into the registry (the CLI's real verbs and flags). */
function NoModels() {
  return (
    <div class="models-empty">
      <p>No registered models yet. Register a version with one of:</p>
      <ul>
        <li>
          <code>mldeploy train --train … --valid … --register ride-duration</code> (train and
          register)
        </li>
        <li>
          <code>mldeploy import ./model.pkl --output duration --register ride-duration</code> (a
          scikit-learn, XGBoost or MLflow model)
        </li>
        <li>
          <code>mldeploy models register ride-duration runs:/&lt;run_id&gt;/model</code> (a bundle
          already logged)
        </li>
      </ul>
    </div>
  );
}

function matches(model: RegisteredModel, needle: string): boolean {
  return (
    model.name.toLowerCase().includes(needle) || model.description.toLowerCase().includes(needle)
  );
}

/** Every registered model with its latest version, aliases, description and last update. */
export function ModelsPage(props: { location: Location }) {
  useTitle("Models");
  const q = props.location.query.get("q") ?? "";
  const { state, retry } = useLoad(listModels, "models");
  return (
    <>
      <h1>Models</h1>
      <SearchBox id="model-search" label="Search models" path="/models" value={q} />
      <Loaded state={state} retry={retry} notFound={(message) => <p>{message}</p>}>
        {(models) => {
          if (models.length === 0) return <NoModels />;
          const needle = q.trim().toLowerCase();
          const shown = models.filter((model) => matches(model, needle));
          if (shown.length === 0) {
            return <p>No model name or description contains “{q}”.</p>;
          }
          return (
            <div class="scroll" role="region" aria-label="Registered models" tabindex={0}>
              <table class="models">
                <thead>
                  <tr>
                    <th scope="col">Model</th>
                    <th scope="col" class="number">
                      Latest version
                    </th>
                    <th scope="col">Aliases</th>
                    <th scope="col">Description</th>
                    <th scope="col">Last update</th>
                  </tr>
                </thead>
                <tbody>
                  {shown.map((model) => (
                    <tr key={model.name}>
                      <th scope="row">
                        <a href={modelHref(model.name)}>{model.name}</a>
                      </th>
                      <td class="number" data-column="latest">
                        {model.latestVersion === null ? "—" : `v${model.latestVersion}`}
                      </td>
                      <td data-column="aliases">
                        <AliasList aliases={model.aliases} />
                      </td>
                      <td class="description" data-column="description">
                        {model.description}
                      </td>
                      <td data-column="updated">{formatTime(model.updatedAt)}</td>
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
