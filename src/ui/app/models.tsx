import type { Location } from "./router.js";
import { useTitle } from "./title.js";

// Placeholder until this page is built (issue 20).
export function ModelsPage(props: { location: Location }) {
  useTitle("Models");
  void props;
  return <h1>Models</h1>;
}
