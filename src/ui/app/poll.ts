import { useEffect, useState } from "preact/hooks";

export type Polled<T> =
  | { kind: "loading" }
  | { kind: "done"; value: T; at: number }
  | { kind: "failed"; error: Error; last?: T };

/**
 * Loads now, then every `everyMs` while the page is shown; the last good value stays on screen
 * while the next one loads (no "Loading…" flashing every few seconds). `retry` loads at once.
 */
export function usePoll<T>(load: () => Promise<T>, everyMs: number, key = "") {
  const [state, setState] = useState<Polled<T>>({ kind: "loading" });
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const tick = () => {
      load().then(
        (value) => {
          if (!live) return;
          setState({ kind: "done", value, at: Date.now() });
          timer = setTimeout(tick, everyMs);
        },
        (error: Error) => {
          if (!live) return;
          setState((previous) => ({
            kind: "failed",
            error,
            last:
              previous.kind === "done"
                ? previous.value
                : previous.kind === "failed"
                  ? previous.last
                  : undefined,
          }));
          timer = setTimeout(tick, everyMs);
        },
      );
    };
    tick();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [key, attempt, everyMs]);
  return { state, retry: () => setAttempt((n) => n + 1) };
}
