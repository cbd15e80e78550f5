import { readFileSync } from "node:fs";

let cached: string | undefined;

/**
 * mldeploy's own version from its package.json, found by walking up from this file (the
 * module runs from src/, dist/ or a transpiled copy, at different depths).
 */
export function mldeployVersion(): string {
  if (cached !== undefined) return cached;
  cached = "unknown";
  for (let dir = new URL("./", import.meta.url); dir.pathname !== "/"; dir = new URL("../", dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL("package.json", dir), "utf8")) as { name?: unknown; version?: unknown };
      if (pkg.name === "mldeploy" && typeof pkg.version === "string") {
        cached = pkg.version;
        break;
      }
    } catch {
      // no package.json at this level
    }
  }
  return cached;
}
