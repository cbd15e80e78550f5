import { render } from "preact";
import { useEffect } from "preact/hooks";
import { ExperimentsPage } from "./experiments.js";
import { NotFoundPage } from "./not-found.js";
import { href, useLocation } from "./router.js";
import { RunsPage } from "./runs.js";

function Page() {
  const location = useLocation();
  const experiment = /^\/experiments\/([^/]+)$/.exec(location.path);
  useEffect(() => {
    document.title = experiment ? "Runs · mldeploy" : "Experiments · mldeploy";
  }, [location.path]);
  if (location.path === "/experiments") return <ExperimentsPage location={location} />;
  if (experiment) {
    return <RunsPage id={decodeURIComponent(experiment[1])} location={location} />;
  }
  return <NotFoundPage what={`The page “${location.path}”`} />;
}

function App() {
  return (
    <>
      <header class="top">
        <a class="brand" href={href("/experiments")}>
          mldeploy
        </a>
        <nav aria-label="Main">
          <a href={href("/experiments")}>Experiments</a>
        </nav>
      </header>
      <main>
        <Page />
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
