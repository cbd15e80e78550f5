import { render } from "preact";
import "./app.css";
import { BatchHistoryPage } from "./batch-history.js";
import { ComparePage } from "./compare.js";
import { DeploymentsPage } from "./deployments.js";
import { ExperimentsPage } from "./experiments.js";
import { ModelPage } from "./model.js";
import { ModelsPage } from "./models.js";
import { NotFoundPage } from "./not-found.js";
import { href, useLocation, type Location } from "./router.js";
import { RunPage } from "./run.js";
import { RunsPage } from "./runs.js";

/** A page of the app: a path pattern, and the page given the pattern's decoded parts. */
interface PageRoute {
  pattern: RegExp;
  page: (parts: string[], location: Location) => preact.JSX.Element;
}

const ROUTES: PageRoute[] = [
  { pattern: /^\/experiments$/, page: (_, location) => <ExperimentsPage location={location} /> },
  {
    pattern: /^\/experiments\/([^/]+)$/,
    page: ([id], location) => <RunsPage id={id} location={location} />,
  },
  {
    pattern: /^\/runs\/([^/]+)$/,
    page: ([id], location) => <RunPage id={id} location={location} />,
  },
  { pattern: /^\/compare$/, page: (_, location) => <ComparePage location={location} /> },
  { pattern: /^\/models$/, page: (_, location) => <ModelsPage location={location} /> },
  {
    pattern: /^\/models\/([^/]+)$/,
    page: ([name], location) => <ModelPage name={name} location={location} />,
  },
  { pattern: /^\/deployments$/, page: (_, location) => <DeploymentsPage location={location} /> },
  { pattern: /^\/batch$/, page: (_, location) => <BatchHistoryPage location={location} /> },
];

function Page() {
  const location = useLocation();
  for (const route of ROUTES) {
    const match = route.pattern.exec(location.path);
    if (match) return route.page(match.slice(1).map(decodeURIComponent), location);
  }
  return <NotFoundPage what={`The page “${location.path}”`} />;
}

const NAV = [
  { path: "/experiments", label: "Experiments" },
  { path: "/models", label: "Models" },
  { path: "/deployments", label: "Deployments" },
  { path: "/batch", label: "Batch jobs" },
];

function App() {
  const location = useLocation();
  return (
    <>
      <a class="skip" href="#content">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href("/experiments")}>
          mldeploy
        </a>
        <nav aria-label="Main">
          {NAV.map((item) => (
            <a
              key={item.path}
              href={href(item.path)}
              aria-current={location.path.startsWith(item.path) ? "page" : undefined}
            >
              {item.label}
            </a>
          ))}
        </nav>
      </header>
      <main id="content" tabindex={-1}>
        <Page />
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
