import { render } from "preact";
import { useState } from "preact/hooks";
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
import { TokenControl } from "./token-control.js";

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
  // Bumped when the header sets or forgets the token: the page is built afresh and loads again.
  const [tokenEpoch, setTokenEpoch] = useState(0);
  return (
    <>
      <a
        class="skip"
        href="#content"
        onClick={(event) => {
          // The app's routes live in the fragment: move focus without changing the address.
          event.preventDefault();
          document.getElementById("content")?.focus();
        }}
      >
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href("/experiments")}>
          mldeploy
        </a>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.path}>
                <a
                  href={href(item.path)}
                  aria-current={location.path.startsWith(item.path) ? "page" : undefined}
                >
                  {item.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <TokenControl onChange={() => setTokenEpoch((n) => n + 1)} />
      </header>
      <main id="content" tabindex={-1}>
        <Page key={tokenEpoch} />
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
