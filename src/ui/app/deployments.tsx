import type { Location } from "./router.js";
import { useTitle } from "./title.js";

// Placeholder until this page is built (issue 20).
export function DeploymentsPage(props: { location: Location }) {
  useTitle("Deployments");
  void props;
  return <h1>Deployments</h1>;
}
