import { useEffect } from "preact/hooks";

/** Sets the tab's title for the page shown: "<what> · mldeploy". */
export function useTitle(what: string): void {
  useEffect(() => {
    document.title = `${what} · mldeploy`;
  }, [what]);
}
