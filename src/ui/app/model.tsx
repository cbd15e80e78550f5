import type { Location } from "./router.js";
import { useTitle } from "./title.js";

// Placeholder until this page is built (issue 20).
export function ModelPage(props: { name: string; location: Location }) {
  useTitle("Model");
  void props;
  return <h1>Model</h1>;
}
