import type { Run } from "./api.js";

// Placeholder until the run's artifacts panel is built (issue 20): shown on the run page.
export function RunArtifacts(props: { run: Run }) {
  void props;
  return null;
}
