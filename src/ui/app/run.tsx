import type { Location } from "./router.js";
import { useTitle } from "./title.js";

// Placeholder until this page is built (issue 20).
export function RunPage(props: { id: string; location: Location }) {
  useTitle("Run");
  void props;
  return <h1>Run</h1>;
}
