import { useEffect, useState } from "preact/hooks";
import { ApiError, NotFound, TokenRequired } from "./api.js";
import {
  getInputExample,
  invokeDeployment,
  listDeployments,
  type Deployment,
  type InvocationAnswer,
} from "./api-deployments.js";
import "./deployments.css";
import { TokenPrompt } from "./load.js";
import { usePoll } from "./poll.js";

/** Live serve deployments are looked up again this often (one may start while the form is open). */
const POLL_MS = 5000;

type Example =
  | { kind: "none" }
  | { kind: "loading" }
  | { kind: "loaded"; text: string }
  | { kind: "missing"; message: string };

type Sent =
  | { kind: "idle" }
  | { kind: "sending" }
  | { kind: "answered"; answer: InvocationAnswer }
  | { kind: "refused"; message: string }
  | { kind: "token"; message: string };

/** The version number an example can be read for (runs:/ deployments run a run id). */
function versionNumber(deployment: Deployment): number | undefined {
  const version = Number(deployment.modelVersion);
  return Number.isInteger(version) && version > 0 ? version : undefined;
}

/**
 * A serve's token is kept for this tab only, per endpoint (several deployments of one model may
 * have different ones), and never sent to the registry's storage: it rides along each request.
 */
const serveTokenKey = (endpoint: string) => `mldeploy:serve-token:${endpoint}`;

function storedServeToken(endpoint: string | undefined): string {
  return endpoint === undefined ? "" : (sessionStorage.getItem(serveTokenKey(endpoint)) ?? "");
}

function describe(deployment: Deployment): string {
  return `${deployment.endpoint} — version ${deployment.modelVersion ?? "?"} (${deployment.modelUri})`;
}

/**
 * "Try it" on a model's page: sends a request (the input example of the version the chosen
 * deployment runs, editable) through the registry to a live `mldeploy serve` of the model, and
 * shows what it answered: the prediction, or the serve's error naming the field.
 */
export function TryIt(props: { model: string }) {
  const { model } = props;
  const { state, retry } = usePoll(listDeployments, POLL_MS, `try-${model}`);
  const [chosen, setChosen] = useState<string | undefined>(undefined);
  const [example, setExample] = useState<Example>({ kind: "none" });
  const [text, setText] = useState("");
  const [edited, setEdited] = useState(false);
  const [sent, setSent] = useState<Sent>({ kind: "idle" });

  const all =
    state.kind === "done" ? state.value : state.kind === "failed" ? state.last : undefined;
  const serving = (all ?? []).filter((d) => d.mode === "serve" && d.modelName === model);
  const deployment = serving.find((d) => d.id === chosen) ?? serving[0];
  const version = deployment === undefined ? undefined : versionNumber(deployment);
  const endpoint = deployment?.endpoint;
  // Derived per endpoint at render, never synced after it: a token must not outlive, even for
  // one frame, the choice of the deployment it was typed for.
  const [typed, setTyped] = useState<Record<string, string>>({});
  const serveToken = endpoint === undefined ? "" : (typed[endpoint] ?? storedServeToken(endpoint));
  const changeServeToken = (value: string) => {
    if (endpoint === undefined) return;
    setTyped((before) => ({ ...before, [endpoint]: value }));
    if (value === "") sessionStorage.removeItem(serveTokenKey(endpoint));
    else sessionStorage.setItem(serveTokenKey(endpoint), value);
  };

  // The example of the version the deployment runs; a text the user edited is kept.
  useEffect(() => {
    if (version === undefined) {
      setExample({ kind: "none" });
      return;
    }
    let live = true;
    setExample({ kind: "loading" });
    getInputExample(model, version).then(
      (found) => {
        if (!live) return;
        const pretty = JSON.stringify(found.example, null, 2);
        setExample({ kind: "loaded", text: pretty });
        if (!edited) setText(pretty);
      },
      (error: Error) => {
        if (!live) return;
        setExample({
          kind: "missing",
          message:
            error instanceof NotFound ? error.message : `could not load it: ${error.message}`,
        });
      },
    );
    return () => {
      live = false;
    };
  }, [model, version]);

  const send = async () => {
    if (deployment === undefined) return;
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      setSent({
        kind: "refused",
        message: `The request is not valid JSON: ${(error as Error).message}`,
      });
      return;
    }
    setSent({ kind: "sending" });
    try {
      setSent({
        kind: "answered",
        answer: await invokeDeployment(deployment.id, body, serveToken),
      });
    } catch (error) {
      if (error instanceof TokenRequired) setSent({ kind: "token", message: error.message });
      else {
        const field = error instanceof ApiError && error.field ? ` (${error.field})` : "";
        setSent({ kind: "refused", message: `${(error as Error).message}${field}` });
      }
    }
  };

  const headingId = `tryit-${model}`;
  return (
    <section class="tryit" aria-labelledby={headingId}>
      <h2 id={headingId}>Try {model}</h2>
      {state.kind === "loading" && <p aria-live="polite">Looking for live deployments…</p>}
      {state.kind === "failed" && state.error instanceof TokenRequired && (
        <TokenPrompt message={state.error.message} onSaved={retry} />
      )}
      {state.kind === "failed" && !(state.error instanceof TokenRequired) && all === undefined && (
        <p role="alert">The registry did not answer: {state.error.message}</p>
      )}
      {all !== undefined && serving.length === 0 && (
        <p data-no-deployment>
          No live deployment serves {model}. Start one with{" "}
          <code class="command">mldeploy serve models:/{model}@production</code> (on a machine that
          reaches this registry): it appears here within seconds.
        </p>
      )}
      {deployment !== undefined && (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            void send();
          }}
        >
          <div class="tryit-fields">
            <label for={`${headingId}-deployment`}>Deployment</label>
            <select
              id={`${headingId}-deployment`}
              value={deployment.id}
              onChange={(event) => setChosen(event.currentTarget.value)}
            >
              {serving.map((d) => (
                <option key={d.id} value={d.id}>
                  {describe(d)}
                </option>
              ))}
            </select>
            <label for={`${headingId}-body`}>Request body (JSON for POST /invocations)</label>
            <textarea
              id={`${headingId}-body`}
              value={text}
              spellcheck={false}
              onInput={(event) => {
                setText(event.currentTarget.value);
                setEdited(true);
              }}
            />
            <p class="status-line" aria-live="polite">
              {example.kind === "loading" && "Loading the input example…"}
              {example.kind === "loaded" &&
                `The input example of version ${String(version)}${edited ? " (edited)" : ""}.`}
              {example.kind === "missing" && example.message}
              {example.kind === "none" &&
                "This deployment's version has no registered number: write the request yourself."}
            </p>
            <label for={`${headingId}-serve-token`}>Service token</label>
            <input
              id={`${headingId}-serve-token`}
              type="password"
              autocomplete="off"
              value={serveToken}
              aria-describedby={`${headingId}-serve-token-hint`}
              onInput={(event) => changeServeToken(event.currentTarget.value)}
            />
            <p id={`${headingId}-serve-token-hint`} class="hint">
              Only for a service started with <code>--auth-token</code>: sent to it as its bearer
              token, kept in this tab only.
            </p>
            <div class="actions">
              <button type="submit" disabled={sent.kind === "sending"}>
                Send
              </button>
              {example.kind === "loaded" && edited && (
                <button
                  type="button"
                  onClick={() => {
                    setText(example.text);
                    setEdited(false);
                  }}
                >
                  Reset to the example
                </button>
              )}
            </div>
          </div>
        </form>
      )}
      <div aria-live="polite">
        {sent.kind === "sending" && <p>Sending…</p>}
        {sent.kind === "token" && (
          <TokenPrompt message={sent.message} onSaved={() => void send()} />
        )}
        {sent.kind === "refused" && (
          <p role="alert" class="answer failed">
            {sent.message}
          </p>
        )}
        {sent.kind === "answered" && <Answer answer={sent.answer} withToken={serveToken !== ""} />}
      </div>
    </section>
  );
}

function Answer(props: { answer: InvocationAnswer; withToken: boolean }) {
  const { answer, withToken } = props;
  if (answer.status === null) {
    return (
      <div class="answer failed" data-answer>
        <p>The deployment did not answer: {answer.error}</p>
      </div>
    );
  }
  const ok = answer.status >= 200 && answer.status < 300;
  const shown =
    typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body, null, 2);
  return (
    <div class={`answer ${ok ? "ok" : "failed"}`} data-answer data-status={answer.status}>
      <p>
        {ok ? "Answered" : "Refused"} with status <strong>{answer.status}</strong> in {answer.ms} ms
        {answer.truncated ? " (the answer was cut at 1 MiB)" : ""}:
      </p>
      <pre>{shown}</pre>
      {answer.status === 401 && (
        <p data-token-hint>
          {withToken
            ? "The service refused the service token: check it against the service's --auth-token (MLDEPLOY_AUTH_TOKEN)."
            : "This service requires a token: enter its --auth-token (MLDEPLOY_AUTH_TOKEN) in Service token and send again."}
        </p>
      )}
    </div>
  );
}
