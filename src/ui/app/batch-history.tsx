import type { Location } from "./router.js";
import { useTitle } from "./title.js";

// Placeholder until this page is built (issue 20).
export function BatchHistoryPage(props: { location: Location }) {
  useTitle("Batch jobs");
  void props;
  return <h1>Batch jobs</h1>;
}
