import { href } from "./router.js";

export function NotFoundPage(props: { what: string }) {
  return (
    <>
      <h1>Not found</h1>
      <p>{props.what} does not exist in this registry.</p>
      <p>
        <a href={href("/experiments")}>Back to the experiments</a>
      </p>
    </>
  );
}
