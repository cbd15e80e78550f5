import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { TokenRequired } from "./api.js";
import { TokenPrompt } from "./load.js";

type Phase =
  | { kind: "ask" }
  | { kind: "busy" }
  | { kind: "token"; message: string }
  | { kind: "failed"; message: string };

/**
 * A modal confirmation (the native <dialog>, so the page behind is inert and Escape cancels)
 * for a write: it shows what will change, runs `action` on Confirm, and closes once it
 * succeeded. A 401 turns into the token prompt inside the dialog, and the write is retried
 * with the token. Focus starts on Cancel (the safe choice) and goes back, on close, to the
 * control that opened the dialog, or to `fallbackFocus` when that control is gone.
 */
export function ConfirmDialog(props: {
  title: string;
  confirmLabel: string;
  children: ComponentChildren;
  action: () => Promise<void>;
  /** Called once: true after the action succeeded, false when cancelled. */
  onClose: (done: boolean) => void;
  fallbackFocus?: () => HTMLElement | null;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  const [phase, setPhase] = useState<Phase>({ kind: "ask" });
  const busy = phase.kind === "busy";
  const latest = useRef({ busy, props });
  latest.current = { busy, props };

  useEffect(() => {
    const element = dialog.current!;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const onCancel = (event: Event) => {
      // Escape while the write is under way would hide its outcome.
      if (latest.current.busy) event.preventDefault();
    };
    const onNativeClose = () => latest.current.props.onClose(false);
    element.addEventListener("cancel", onCancel);
    element.addEventListener("close", onNativeClose);
    element.showModal();
    cancel.current?.focus();
    return () => {
      element.removeEventListener("cancel", onCancel);
      element.removeEventListener("close", onNativeClose);
      if (element.open) element.close();
      const target = opener?.isConnected ? opener : latest.current.props.fallbackFocus?.();
      target?.focus();
    };
  }, []);

  useEffect(() => {
    // The token prompt replaced the buttons' row: its field is where typing goes.
    if (phase.kind === "token") dialog.current?.querySelector("input")?.focus();
  }, [phase.kind]);

  async function run(): Promise<void> {
    setPhase({ kind: "busy" });
    try {
      await props.action();
      props.onClose(true);
    } catch (error) {
      if (error instanceof TokenRequired) setPhase({ kind: "token", message: error.message });
      else setPhase({ kind: "failed", message: (error as Error).message });
    }
  }

  return (
    <dialog ref={dialog} class="confirm" aria-labelledby="confirm-title" aria-busy={busy}>
      <h2 id="confirm-title">{props.title}</h2>
      {props.children}
      {phase.kind === "token" ? (
        <TokenPrompt message={phase.message} onSaved={() => void run()} />
      ) : null}
      {phase.kind === "failed" ? (
        <p role="alert" class="error">
          Not done: {phase.message}
        </p>
      ) : null}
      {busy ? <p aria-live="polite">Saving…</p> : null}
      <div class="confirm-buttons">
        <button type="button" ref={cancel} disabled={busy} onClick={() => props.onClose(false)}>
          Cancel
        </button>
        {phase.kind === "token" ? null : (
          <button type="button" class="primary" disabled={busy} onClick={() => void run()}>
            {props.confirmLabel}
          </button>
        )}
      </div>
    </dialog>
  );
}
