import type { ComponentChildren } from "preact";
import { useEffect, useId, useState } from "preact/hooks";
import { NotFound, setToken, TokenRequired } from "./api.js";

type State<T> = { kind: "loading" } | { kind: "done"; value: T } | { kind: "failed"; error: Error };

/** Runs `load` when `key` changes; `retry` loads again (after a token was entered). */
export function useLoad<T>(load: () => Promise<T>, key: string) {
  const [state, setState] = useState<State<T>>({ kind: "loading" });
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    let live = true;
    setState({ kind: "loading" });
    load().then(
      (value) => live && setState({ kind: "done", value }),
      (error: Error) => live && setState({ kind: "failed", error }),
    );
    return () => {
      live = false;
    };
  }, [key, attempt]);
  return { state, retry: () => setAttempt((n) => n + 1) };
}

/** What a page shows while loading or after a failure; its children once loaded. */
export function Loaded<T>(props: {
  state: State<T>;
  retry: () => void;
  notFound: (message: string) => ComponentChildren;
  children: (value: T) => ComponentChildren;
}) {
  const { state } = props;
  if (state.kind === "loading") return <p aria-live="polite">Loading…</p>;
  if (state.kind === "done") return <>{props.children(state.value)}</>;
  if (state.error instanceof TokenRequired) {
    return <TokenPrompt message={state.error.message} onSaved={props.retry} />;
  }
  if (state.error instanceof NotFound) return <>{props.notFound(state.error.message)}</>;
  return (
    <div role="alert" class="error">
      <p>The registry did not answer: {state.error.message}</p>
      <button type="button" onClick={props.retry}>
        Try again
      </button>
    </div>
  );
}

/**
 * The server wants a bearer token: ask for it, keep it for this tab only. Forms that write show
 * it when their call throws TokenRequired, then retry. The message is the server's: "requires a
 * token" when none was sent, "was refused" when the one entered is wrong (asked again, never
 * ignored).
 */
export function TokenPrompt(props: { message: string; onSaved: () => void }) {
  const [token, setTokenText] = useState("");
  // Unique per prompt: a page and a form on it may both ask.
  const id = useId();
  return (
    <form
      class="token"
      aria-labelledby={`${id}-title`}
      onSubmit={(event) => {
        event.preventDefault();
        setToken(token);
        props.onSaved();
      }}
    >
      <h2 id={`${id}-title`}>This registry needs a token</h2>
      <p role="alert">{props.message}</p>
      <label for={`${id}-input`}>Registry token (MLDEPLOY_REGISTRY_TOKEN)</label>
      <input
        id={`${id}-input`}
        type="password"
        autocomplete="current-password"
        value={token}
        onInput={(event) => setTokenText(event.currentTarget.value)}
        required
      />
      <button type="submit">Use token</button>
    </form>
  );
}
