import { href } from "./router.js";
import { useTitle } from "./title.js";

/**
 * What an unknown page, experiment, run or model shows: a clear page with a way on, never a
 * blank one. `what` names the missing thing ("The run “abc”").
 */
export function NotFoundPage(props: { what: string }) {
  useTitle("Not found");
  return (
    <section class="not-found" aria-labelledby="not-found-title">
      <h1 id="not-found-title">Not found</h1>
      <p>{props.what} does not exist in this registry.</p>
      <p>
        The link may be out of date (a run or experiment deleted, a model renamed), or the address
        mistyped.
      </p>
      <h2>Go to</h2>
      <ul>
        <li>
          <a href={href("/experiments")}>Back to the experiments</a>
        </li>
        <li>
          <a href={href("/models")}>Registered models</a>
        </li>
        <li>
          <a href={href("/deployments")}>Deployments</a>
        </li>
      </ul>
    </section>
  );
}
