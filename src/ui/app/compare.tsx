import type { Location } from "./router.js";
import { useTitle } from "./title.js";

// Placeholder until this page is built (issue 20).
export function ComparePage(props: { location: Location }) {
  useTitle("Compare runs");
  void props;
  return <h1>Compare runs</h1>;
}
