import { useEffect, useState } from "preact/hooks";

/**
 * Pages live in the URL's fragment (`#/experiments?q=ride`), so every page is a link that can
 * be shared and reloaded, whatever path the server is mounted at.
 */
export interface Location {
  path: string;
  query: URLSearchParams;
}

function current(): Location {
  const hash = window.location.hash.replace(/^#/, "") || "/experiments";
  const [path, search = ""] = hash.split("?", 2);
  return { path, query: new URLSearchParams(search) };
}

export function href(path: string, query: Record<string, string | undefined> = {}): string {
  const kept = Object.entries(query).filter(
    (entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== "",
  );
  const search = new URLSearchParams(kept).toString();
  return `#${path}${search ? `?${search}` : ""}`;
}

let listeners: Array<() => void> = [];

/** Changes the address without a history entry (typing in a search box). */
export function replace(to: string): void {
  window.history.replaceState(null, "", to);
  for (const listener of listeners) listener();
}

export function useLocation(): Location {
  const [location, setLocation] = useState(current);
  useEffect(() => {
    const update = () => setLocation(current());
    listeners.push(update);
    window.addEventListener("hashchange", update);
    return () => {
      listeners = listeners.filter((listener) => listener !== update);
      window.removeEventListener("hashchange", update);
    };
  }, []);
  return location;
}
