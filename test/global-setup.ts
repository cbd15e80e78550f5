import { readdirSync, statSync } from "node:fs";
import path from "node:path";

/** Newest modification time of the .ts and .tsx (web UI) files under a folder. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(full));
    else if (/\.tsx?$/.test(entry.name)) newest = Math.max(newest, statSync(full).mtimeMs);
  }
  return newest;
}

/**
 * Tests that start processes (the CLI, cluster workers, a served process to SIGTERM) run the
 * built dist/, as users do. `npm test` builds first; a bare `npx vitest` after editing src/
 * would silently test old code, so refuse that.
 */
export default function checkBuild(): void {
  const built = path.resolve("dist/cli/main.js");
  let builtAt = 0;
  try {
    builtAt = statSync(built).mtimeMs;
  } catch {
    throw new Error("dist/ is missing: run `npm test` (it builds first) or `npm run build`");
  }
  // Escape hatch for someone who knows the tests they run start no process.
  if (process.env.MLDEPLOY_TEST_ALLOW_STALE_DIST === "1") return;
  if (newestSource(path.resolve("src")) > builtAt) {
    throw new Error(
      "dist/ is older than src/: run `npm test` (it builds first) or `npm run build`",
    );
  }
}
