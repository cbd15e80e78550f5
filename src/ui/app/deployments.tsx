import { useEffect, useRef, useState } from "preact/hooks";
import { TokenRequired } from "./api.js";
import { listDeployments, type Deployment } from "./api-deployments.js";
import "./deployments.css";
import { formatDuration, formatTime } from "./format.js";
import { TokenPrompt } from "./load.js";
import { usePoll } from "./poll.js";
import { href, type Location } from "./router.js";
import { useTitle } from "./title.js";
import { TryIt } from "./try-it.js";

/** How often the page asks the registry: a stopped deployment leaves within a few seconds. */
export const DEPLOYMENTS_POLL_MS = 2000;

const RATE_UNIT: Record<Deployment["mode"], string> = {
  serve: "requests/s",
  stream: "events/s",
  batch: "rows/s",
};

export function formatRate(deployment: Deployment): string {
  const rate = deployment.rate;
  const shown = rate >= 100 ? Math.round(rate).toString() : String(Number(rate.toPrecision(3)));
  return `${shown} ${RATE_UNIT[deployment.mode]}`;
}

/** "1", plus "behind @production (2)" when it lags: a word and a sign, not colour alone. */
export function VersionCell(props: { deployment: Deployment }) {
  const { deployment } = props;
  return (
    <>
      <span data-version>{deployment.modelVersion ?? "—"}</span>
      {deployment.lagging && (
        <span class="lag" data-lagging>
          behind @{deployment.follows}, which is {String(deployment.targetVersion)}
        </span>
      )}
    </>
  );
}

/** One sentence per change between two listings, for the screen reader's polite updates. */
function changes(before: Deployment[], after: Deployment[]): string[] {
  const old = new Map(before.map((d) => [d.id, d]));
  const now = new Map(after.map((d) => [d.id, d]));
  const said: string[] = [];
  const name = (d: Deployment) => `${d.mode} ${d.endpoint}`;
  for (const d of after) {
    const was = old.get(d.id);
    if (was === undefined)
      said.push(`${name(d)} started, running version ${d.modelVersion ?? "?"}`);
    else if (was.modelVersion !== d.modelVersion) {
      said.push(`${name(d)} now runs version ${d.modelVersion ?? "?"}`);
    } else if (was.lagging !== d.lagging) {
      said.push(
        d.lagging
          ? `${name(d)} is behind @${d.follows}, which is ${String(d.targetVersion)}`
          : `${name(d)} caught up with @${d.follows}`,
      );
    }
  }
  for (const d of before) if (!now.has(d.id)) said.push(`${name(d)} stopped`);
  return said;
}

function ago(ms: number, now: number): string {
  const seconds = Math.round((now - ms) / 1000);
  return seconds < 1 ? "just now" : `${formatDuration(seconds * 1000)} ago`;
}

export function DeploymentsPage(props: { location: Location }) {
  useTitle("Deployments");
  const trying = props.location.query.get("try") ?? "";
  const { state, retry } = usePoll(listDeployments, DEPLOYMENTS_POLL_MS, "deployments");
  const previous = useRef<Deployment[] | undefined>(undefined);
  const [announcement, setAnnouncement] = useState("");
  const current =
    state.kind === "done" ? state.value : state.kind === "failed" ? state.last : undefined;
  useEffect(() => {
    if (state.kind !== "done") return;
    if (previous.current !== undefined) {
      const said = changes(previous.current, state.value);
      if (said.length > 0) setAnnouncement(said.join(". "));
    }
    previous.current = state.value;
  }, [state]);

  return (
    <>
      <h1>Deployments</h1>
      <p class="status-line">
        Every running <code>mldeploy serve</code>, <code>stream</code> and scheduled{" "}
        <code>batch</code> whose model comes from this registry, as it last reported itself
        (refreshed every {DEPLOYMENTS_POLL_MS / 1000} s).
      </p>
      <p class="status-line" aria-live="polite" data-announcement>
        {announcement}
      </p>
      {state.kind === "loading" && <p aria-live="polite">Loading…</p>}
      {state.kind === "failed" && state.error instanceof TokenRequired && (
        <TokenPrompt message={state.error.message} onSaved={retry} />
      )}
      {state.kind === "failed" && !(state.error instanceof TokenRequired) && (
        <div role="alert" class="error">
          <p>The registry did not answer: {state.error.message}</p>
          <button type="button" onClick={retry}>
            Try again
          </button>
        </div>
      )}
      {current !== undefined && <DeploymentsTable deployments={current} />}
      {trying !== "" && <TryIt model={trying} />}
    </>
  );
}

function DeploymentsTable(props: { deployments: Deployment[] }) {
  const { deployments } = props;
  const now = Date.now();
  if (deployments.length === 0) {
    return (
      <p data-empty>
        No live deployment. Start one with{" "}
        <code class="command">mldeploy serve models:/&lt;name&gt;@production</code>: it shows up
        here within seconds.
      </p>
    );
  }
  return (
    <div class="scroll" role="region" aria-label="Live deployments" tabindex={0}>
      <table class="deployments">
        <thead>
          <tr>
            <th scope="col">Endpoint</th>
            <th scope="col">Version running</th>
            <th scope="col">Model</th>
            <th scope="col">Mode</th>
            <th scope="col">Since</th>
            <th scope="col" class="number">
              Rate
            </th>
            <th scope="col">Last beat</th>
            <th scope="col">Host</th>
          </tr>
        </thead>
        <tbody>
          {deployments.map((d) => (
            <tr key={d.id} data-deployment={d.id} data-mode={d.mode}>
              <td data-column="endpoint">{d.endpoint}</td>
              <td data-column="version">
                <VersionCell deployment={d} />
              </td>
              <td data-column="model">
                {d.modelName !== null ? (
                  <a href={href(`/models/${encodeURIComponent(d.modelName)}`)}>{d.modelUri}</a>
                ) : (
                  d.modelUri
                )}
                {d.mode === "serve" && d.modelName !== null && (
                  <>
                    {" "}
                    <a
                      href={href("/deployments", { try: d.modelName })}
                      aria-label={`try it: ${d.modelName}`}
                    >
                      try it
                    </a>
                  </>
                )}
              </td>
              <td data-column="mode">{d.mode}</td>
              <td data-column="since">{formatTime(d.versionSince)}</td>
              <td data-column="rate" class="number">
                {formatRate(d)}
              </td>
              <td data-column="beat">{ago(d.lastBeatAt, now)}</td>
              <td data-column="host">
                {d.host} (pid {d.pid})
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
