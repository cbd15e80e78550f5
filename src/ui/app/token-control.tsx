import { useEffect, useRef, useState } from "preact/hooks";
import { forgetToken, hasToken, setToken, TOKEN_CHANGED } from "./api.js";

/**
 * The header's token control: "Enter token" before a write (where reads are public, pages never
 * ask), or "Token set · Forget token" to drop it (a wrong one, or a shared screen). `onChange`
 * runs after the user sets or forgets one, so that the page loads again with it.
 */
export function TokenControl(props: { onChange: () => void }) {
  const [set, setSet] = useState(hasToken);
  const wanted = useTokenWanted();
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState("");
  const input = useRef<HTMLInputElement>(null);
  const opener = useRef<HTMLButtonElement>(null);
  const forget = useRef<HTMLButtonElement>(null);

  // A page's own prompt may set the token too.
  useEffect(() => {
    const update = () => setSet(hasToken());
    window.addEventListener(TOKEN_CHANGED, update);
    return () => window.removeEventListener(TOKEN_CHANGED, update);
  }, []);
  useEffect(() => {
    if (editing) input.current?.focus();
  }, [editing]);

  const close = () => {
    setEditing(false);
    requestAnimationFrame(() => opener.current?.focus());
  };

  if (set) {
    return (
      <div class="token-control">
        <span>Token set</span>
        <button
          ref={forget}
          type="button"
          onClick={() => {
            forgetToken();
            props.onChange();
            // The button is gone: keep the keyboard where it was rather than at the page's top.
            requestAnimationFrame(() => opener.current?.focus());
          }}
        >
          Forget token
        </button>
      </div>
    );
  }
  // A server without a token (the local `mldeploy ui`) has nothing to enter.
  if (!editing && !wanted) return null;
  if (!editing) {
    return (
      <div class="token-control">
        <button ref={opener} type="button" onClick={() => setEditing(true)}>
          Enter token
        </button>
      </div>
    );
  }
  return (
    <form
      class="token-control editing"
      aria-label="Token for this tab"
      onSubmit={(event) => {
        event.preventDefault();
        setToken(text.trim());
        setText("");
        setEditing(false);
        props.onChange();
        requestAnimationFrame(() => forget.current?.focus());
      }}
      onKeyDown={(event) => {
        if (event.key === "Escape") close();
      }}
    >
      <label for="header-token">API token</label>
      <input
        ref={input}
        id="header-token"
        type="password"
        autocomplete="current-password"
        value={text}
        onInput={(event) => setText(event.currentTarget.value)}
        required
      />
      <button type="submit">Set token</button>
      <button type="button" onClick={close}>
        Cancel
      </button>
    </form>
  );
}

/**
 * Whether this server takes a token at all, from its OpenAPI document fetched without one: a
 * 401 means every call needs it, a document that names a security requirement means writes do
 * (--public-read), none means no token is set. Unknown (a failure) counts as wanted.
 */
function useTokenWanted(): boolean {
  const [wanted, setWanted] = useState(false);
  useEffect(() => {
    let live = true;
    fetch("/api/v1/openapi.json").then(
      async (response) => {
        const document = response.ok
          ? ((await response.json().catch(() => ({}))) as { security?: unknown[] })
          : undefined;
        if (live) setWanted(document === undefined || (document.security ?? []).length > 0);
      },
      () => live && setWanted(true),
    );
    return () => {
      live = false;
    };
  }, []);
  return wanted;
}
