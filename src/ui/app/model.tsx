import { useState } from "preact/hooks";
import { NotFound } from "./api.js";
import { loadModelDetails, type ModelDetails, type ModelVersion } from "./api-models.js";
import { formatTime } from "./format.js";
import { Loaded, useLoad } from "./load.js";
import { MonitoringSection } from "./monitoring.js";
import { shortList, summarizeSignature } from "./model-signature.js";
import "./models.css";
import { AliasesSection } from "./move-alias.js";
import { href, type Location } from "./router.js";
import { useTitle } from "./title.js";
import { TryIt } from "./try-it.js";

function SignatureCell(props: { signature: string | null }) {
  const summary = summarizeSignature(props.signature);
  if (summary === null) return <span class="muted">none</span>;
  return (
    <span class="signature">
      <span class="signature-inputs">{shortList(summary.inputs)}</span>
      {" → "}
      <span class="signature-outputs">{shortList(summary.outputs)}</span>
    </span>
  );
}

function TagList(props: { tags: Record<string, string> }) {
  const entries = Object.entries(props.tags);
  if (entries.length === 0) return <span class="muted">none</span>;
  return (
    <ul class="tag-list">
      {entries.map(([key, value]) => (
        <li key={key}>
          <span class="tag-key">{key}</span>=<span class="tag-value">{value}</span>
        </li>
      ))}
    </ul>
  );
}

function VersionsTable(props: { versions: ModelVersion[]; runNames: Record<string, string> }) {
  const newestFirst = [...props.versions].reverse();
  return (
    <div class="scroll" role="region" aria-label="Versions" tabindex={0}>
      <table class="versions">
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Aliases</th>
            <th scope="col">Source run</th>
            <th scope="col">Created</th>
            <th scope="col">Signature (inputs → outputs)</th>
            <th scope="col">Tags</th>
            <th scope="col">Source</th>
          </tr>
        </thead>
        <tbody>
          {newestFirst.map((version) => (
            <tr key={version.version} data-version={version.version}>
              <th scope="row">v{version.version}</th>
              <td data-column="aliases">
                {version.aliases.length === 0 ? (
                  <span class="muted">—</span>
                ) : (
                  version.aliases.map((alias) => (
                    <span key={alias} class="alias">
                      @{alias}{" "}
                    </span>
                  ))
                )}
              </td>
              <td data-column="run">
                {version.runId === null ? (
                  <span class="muted">—</span>
                ) : (
                  <a href={href(`/runs/${encodeURIComponent(version.runId)}`)}>
                    {props.runNames[version.runId] ?? version.runId.slice(0, 8)}
                  </a>
                )}
              </td>
              <td data-column="created">{formatTime(version.createdAt)}</td>
              <td data-column="signature" class="wrap">
                <SignatureCell signature={version.signature} />
              </td>
              <td data-column="tags" class="wrap">
                <TagList tags={version.tags} />
              </td>
              <td data-column="source" class="wrap">
                <code>{version.source}</code>
                {version.description ? <p class="muted">{version.description}</p> : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ModelNotFound(props: { name: string }) {
  return (
    <>
      <h1>Not found</h1>
      <p>The model “{props.name}” does not exist in this registry.</p>
      <p>
        <a href={href("/models")}>Back to the models</a>
      </p>
    </>
  );
}

function ModelView(props: {
  details: ModelDetails;
  location: Location;
  refresh: (message: string) => Promise<void>;
  status: string;
}) {
  const { model, versions, runNames } = props.details;
  return (
    <div class="model-page">
      <p class="crumbs">
        <a href={href("/models")}>Models</a> / {model.name}
      </p>
      <h1>{model.name}</h1>
      {model.description ? <p class="model-description">{model.description}</p> : null}
      <p class="muted">
        {model.latestVersion === null
          ? "No versions yet."
          : `Latest version ${model.latestVersion} · ${versions.length} version${versions.length === 1 ? "" : "s"}`}
        {` · updated ${formatTime(model.updatedAt)}`}
      </p>

      <section aria-labelledby="aliases-heading">
        <h2 id="aliases-heading">Aliases</h2>
        <AliasesSection
          model={model}
          versions={versions}
          refresh={props.refresh}
          status={props.status}
        />
      </section>

      <section aria-labelledby="versions-heading">
        <h2 id="versions-heading">Versions</h2>
        {versions.length === 0 ? (
          <p>
            No versions yet: <code>mldeploy models register {model.name} &lt;source&gt;</code>{" "}
            registers one.
          </p>
        ) : (
          <VersionsTable versions={versions} runNames={runNames} />
        )}
      </section>

      <section aria-labelledby="monitoring-heading">
        <h2 id="monitoring-heading">Monitoring</h2>
        <MonitoringSection model={model.name} location={props.location} />
      </section>

      <section aria-labelledby="try-heading">
        <h2 id="try-heading">Try it</h2>
        <TryIt model={model.name} />
      </section>
    </div>
  );
}

/**
 * A registered model: its aliases (moved from here, with a confirmation), versions, monitoring,
 * try it.
 */
export function ModelPage(props: { name: string; location: Location }) {
  const { name } = props;
  const { state, retry } = useLoad(() => loadModelDetails(name), `model:${name}`);
  useTitle(state.kind === "failed" && state.error instanceof NotFound ? "Not found" : name);
  // After a write the page reloads its data in place (keeping focus and scroll), instead of
  // going back through "Loading…".
  const [fresh, setFresh] = useState<{ name: string; details: ModelDetails } | null>(null);
  const [status, setStatus] = useState({ name, text: "" });

  async function refresh(message: string): Promise<void> {
    try {
      setFresh({ name, details: await loadModelDetails(name) });
      setStatus({ name, text: message });
    } catch (error) {
      setStatus({
        name,
        text: `${message} The page could not reload (${(error as Error).message}): reload it.`,
      });
    }
  }

  return (
    <Loaded state={state} retry={retry} notFound={() => <ModelNotFound name={name} />}>
      {(loaded) => (
        <ModelView
          key={name}
          details={fresh?.name === name ? fresh.details : loaded}
          location={props.location}
          refresh={refresh}
          status={status.name === name ? status.text : ""}
        />
      )}
    </Loaded>
  );
}
