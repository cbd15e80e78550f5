import { useEffect, useRef, useState } from "preact/hooks";
import { getExperiment, type Experiment, type Run } from "./api.js";
import {
  FilterSyntaxError,
  getExperimentKeys,
  RUN_STATUSES,
  searchRuns,
  type CountedRunsPage,
  type ExperimentKeys,
  type RunStatus,
} from "./api-runs.js";
import { formatCount, formatDuration, formatMetric, formatTime } from "./format.js";
import { Loaded, useLoad } from "./load.js";
import { NotFoundPage } from "./not-found.js";
import { href, replace, type Location } from "./router.js";
import {
  ATTRIBUTE_SORTS,
  orderBy,
  PAGE_SIZES,
  readState,
  shownColumns,
  stateHref,
  type RunsState,
} from "./runs-state.js";
import { useTitle } from "./title.js";
import "./runs.css";

const EXAMPLE_FILTER = 'metrics.valid_rmse < 5.5 and params.alpha = "0"';

/** Goes to a state with a history entry (Back undoes a filter, a sort, a page). */
function go(experimentId: string, state: RunsState): void {
  window.location.hash = stateHref(experimentId, state);
}

async function loadExperiment(
  id: string,
): Promise<{ experiment: Experiment; keys: ExperimentKeys }> {
  const [experiment, keys] = await Promise.all([getExperiment(id), getExperimentKeys(id)]);
  return { experiment, keys };
}

/**
 * The runs of one experiment, a page at a time: the server filters (MLflow's syntax), sorts,
 * pages and counts them (POST /runs/search), so that 10,000 runs cost what one page costs.
 */
export function RunsPage(props: { id: string; location: Location }) {
  const { id, location } = props;
  const state = readState(location.query);
  const meta = useLoad(() => loadExperiment(id), id);
  const query = {
    experimentId: id,
    filter: state.filter,
    status: state.status,
    orderBy: orderBy(state),
    page: state.page,
    pageSize: state.pageSize,
  };
  const queryKey = JSON.stringify(query);
  // The answer names its query: right after the address changes, the last answer is stale.
  const search = useLoad(
    async () => ({ key: queryKey, result: await searchRuns(query) }),
    queryKey,
  );
  const fresh =
    search.state.kind === "done" && search.state.value.key === queryKey
      ? search.state.value.result
      : undefined;
  // What the table showed last: kept on screen (dimmed, aria-busy) while the next page loads,
  // so that a sort or a page turn does not blank the table and shift the page.
  const shown = useRef<{ id: string; state: RunsState; result: CountedRunsPage } | undefined>(
    undefined,
  );
  if (fresh !== undefined) shown.current = { id, state, result: fresh };
  const stale =
    fresh === undefined && search.state.kind !== "failed" && shown.current?.id === id
      ? shown.current
      : undefined;
  useTitle(meta.state.kind === "done" ? `Runs of ${meta.state.value.experiment.name}` : "Runs");
  const retry = () => {
    meta.retry();
    search.retry();
  };
  return (
    <Loaded
      state={meta.state}
      retry={retry}
      notFound={() => <NotFoundPage what={`Experiment “${id}”`} />}
    >
      {({ experiment, keys }) => (
        <>
          <nav aria-label="Breadcrumb" class="crumbs">
            <a href={href("/experiments")}>Experiments</a> /
          </nav>
          <h1>{experiment.name}</h1>
          <FilterForm id={id} state={state} />
          <div class="runs-bar">
            <ColumnChooser id={id} state={state} keys={keys} />
            <Selection id={id} state={state} />
          </div>
          {search.state.kind === "failed" && search.state.error instanceof FilterSyntaxError ? (
            <FilterErrorView filter={state.filter} error={search.state.error} />
          ) : fresh !== undefined ? (
            <RunsResult id={id} state={state} keys={keys} result={fresh} stale={false} />
          ) : stale !== undefined ? (
            // The same element as the fresh one: the count's live region stays in place, so
            // that a screen reader announces the new count when it comes.
            <RunsResult id={id} state={stale.state} keys={keys} result={stale.result} stale />
          ) : (
            <Loaded
              state={search.state}
              retry={retry}
              notFound={(message) => <p role="alert">{message}</p>}
            >
              {({ result }) => (
                <RunsResult id={id} state={state} keys={keys} result={result} stale={false} />
              )}
            </Loaded>
          )}
        </>
      )}
    </Loaded>
  );
}

function FilterForm(props: { id: string; state: RunsState }) {
  const { id, state } = props;
  const [draft, setDraft] = useState(state.filter);
  // The address changed (Back, a shared link): show its filter.
  useEffect(() => setDraft(state.filter), [state.filter]);
  return (
    <form
      class="runs-filter"
      role="search"
      onSubmit={(event) => {
        event.preventDefault();
        go(id, { ...state, filter: draft.trim(), page: 1 });
      }}
    >
      <div class="runs-filter-text">
        <label for="run-filter">Filter (MLflow search syntax)</label>
        <input
          id="run-filter"
          type="search"
          spellcheck={false}
          autocomplete="off"
          placeholder={EXAMPLE_FILTER}
          value={draft}
          aria-describedby="run-filter-help"
          onInput={(event) => setDraft(event.currentTarget.value)}
        />
        <small id="run-filter-help">
          e.g. <code>{EXAMPLE_FILTER}</code>; Enter applies it
        </small>
      </div>
      <div>
        <label for="run-status">Status</label>
        <select
          id="run-status"
          value={state.status ?? ""}
          onChange={(event) => {
            const value = event.currentTarget.value;
            go(id, { ...state, status: value === "" ? undefined : (value as RunStatus), page: 1 });
          }}
        >
          <option value="">Any</option>
          {RUN_STATUSES.map((status) => (
            <option key={status} value={status}>
              {status}
            </option>
          ))}
        </select>
      </div>
      <div>
        <label for="run-page-size">Runs per page</label>
        <select
          id="run-page-size"
          value={String(state.pageSize)}
          onChange={(event) =>
            go(id, { ...state, pageSize: Number(event.currentTarget.value), page: 1 })
          }
        >
          {PAGE_SIZES.map((size) => (
            <option key={size} value={String(size)}>
              {size}
            </option>
          ))}
        </select>
      </div>
      <button type="submit">Apply</button>
    </form>
  );
}

/** The server's message, and a caret under the character where the filter went wrong. */
function FilterErrorView(props: { filter: string; error: FilterSyntaxError }) {
  const { filter, error } = props;
  const at = Math.min(error.position - 1, filter.length);
  return (
    <div class="filter-error" role="alert">
      <p class="filter-message">
        Syntax error at position {error.position}: {error.message}
      </p>
      {/* The filter again, wrapped, its faulty character marked (a caret under it, in CSS). */}
      <p class="filter-echo" aria-hidden="true">
        <code>
          {filter.slice(0, at)}
          <mark>{filter.slice(at, at + 1) || " "}</mark>
          {filter.slice(at + 1)}
        </code>
      </p>
    </div>
  );
}

function ColumnChooser(props: { id: string; state: RunsState; keys: ExperimentKeys }) {
  const { id, state, keys } = props;
  const shown = shownColumns(state, keys);
  const total = keys.metrics.length + keys.params.length;
  if (total === 0) return null;
  const toggle = (column: string, on: boolean) => {
    const next = on ? [...shown, column] : shown.filter((c) => c !== column);
    replace(stateHref(id, { ...state, columns: next }));
  };
  const group = (legend: string, prefix: string, names: string[]) =>
    names.length === 0 ? null : (
      <fieldset>
        <legend>{legend}</legend>
        {names.map((name) => {
          const column = `${prefix}.${name}`;
          return (
            <label key={column} class="check">
              <input
                type="checkbox"
                checked={shown.includes(column)}
                onChange={(event) => toggle(column, event.currentTarget.checked)}
              />
              {name}
            </label>
          );
        })}
      </fieldset>
    );
  return (
    <details class="columns">
      <summary>
        Columns ({shown.length} of {total})
      </summary>
      <div class="columns-groups">
        {group("Metrics", "metrics", keys.metrics)}
        {group("Params", "params", keys.params)}
      </div>
    </details>
  );
}

function Selection(props: { id: string; state: RunsState }) {
  const { id, state } = props;
  const count = state.selected.length;
  return (
    <div class="selection" aria-live="polite">
      <span>
        {count} run{count === 1 ? "" : "s"} selected
      </span>
      {count >= 2 ? (
        <a href={`#/compare?runs=${state.selected.map(encodeURIComponent).join(",")}`}>
          Compare {count} runs
        </a>
      ) : (
        <span class="muted">select two or more to compare</span>
      )}
      {count > 0 && (
        <button type="button" onClick={() => replace(stateHref(id, { ...state, selected: [] }))}>
          Clear selection
        </button>
      )}
    </div>
  );
}

interface Column {
  id: string;
  label: string;
  /** metric, param or undefined (a run attribute). */
  kind?: "metric" | "param";
  numeric: boolean;
  show: (run: Run) => string;
}

const duration = (run: Run) => (run.endTime === null ? null : run.endTime - run.startTime);

function columnsOf(shown: string[]): Column[] {
  return [
    { id: "status", label: "Status", numeric: false, show: (r) => r.status },
    { id: "start", label: "Started", numeric: true, show: (r) => formatTime(r.startTime) },
    { id: "duration", label: "Duration", numeric: true, show: (r) => formatDuration(duration(r)) },
    ...shown.map((column): Column => {
      const dot = column.indexOf(".");
      const key = column.slice(dot + 1);
      return column.startsWith("metrics.")
        ? {
            id: column,
            label: key,
            kind: "metric",
            numeric: true,
            show: (r) => formatMetric(r.latestMetrics[key]),
          }
        : {
            id: column,
            label: key,
            kind: "param",
            numeric: false,
            show: (r) => r.params[key] ?? "",
          };
    }),
  ];
}

function sortable(column: string): boolean {
  return column in ATTRIBUTE_SORTS || /^(metrics|params)\./.test(column);
}

function SortHeader(props: {
  id: string;
  state: RunsState;
  column: { id: string; label: string; kind?: string; numeric: boolean };
}) {
  const { id, state, column } = props;
  const active = state.sort === column.id;
  const className = [column.numeric ? "number" : "", column.kind ?? ""].join(" ").trim();
  if (!sortable(column.id)) {
    return (
      <th scope="col" class={className || undefined} data-column={column.id}>
        {column.label}
      </th>
    );
  }
  // First click ascending; a click on the active column flips it.
  const next = { ...state, sort: column.id, descending: active && !state.descending, page: 1 };
  return (
    <th
      scope="col"
      class={className || undefined}
      data-column={column.id}
      aria-sort={active ? (state.descending ? "descending" : "ascending") : undefined}
    >
      <a
        href={stateHref(id, next)}
        title={column.kind ? `${column.kind} ${column.label}` : undefined}
      >
        {column.label}
        {active ? (state.descending ? " ↓" : " ↑") : ""}
      </a>
    </th>
  );
}

function RunsResult(props: {
  id: string;
  state: RunsState;
  keys: ExperimentKeys;
  result: CountedRunsPage;
  /** The last page, kept on screen (dimmed, aria-busy) while the next one loads. */
  stale: boolean;
}) {
  const { id, state, keys, result, stale } = props;
  return (
    <>
      {result.runs.length > 0 && (
        <div class={stale ? "runs-stale" : undefined} aria-busy={stale ? "true" : undefined}>
          <RunsTable id={id} state={state} keys={keys} runs={result.runs} />
        </div>
      )}
      <Pager id={id} state={state} result={result} stale={stale} />
    </>
  );
}

function RunsTable(props: { id: string; state: RunsState; keys: ExperimentKeys; runs: Run[] }) {
  const { id, state, keys, runs } = props;
  const columns = columnsOf(shownColumns(state, keys));
  const selected = new Set(state.selected);
  const select = (runId: string, on: boolean) => {
    const next = on
      ? [...state.selected, runId]
      : state.selected.filter((other) => other !== runId);
    replace(stateHref(id, { ...state, selected: next }));
  };
  return (
    <div class="scroll" role="region" aria-label="Runs" tabindex={0}>
      <table class="runs">
        <thead>
          <tr>
            <SortHeader
              id={id}
              state={state}
              column={{ id: "name", label: "Run", numeric: false }}
            />
            {columns.map((column) => (
              <SortHeader key={column.id} id={id} state={state} column={column} />
            ))}
          </tr>
        </thead>
        <tbody>
          {runs.map((run) => {
            const name = run.name || run.id;
            return (
              <tr key={run.id} data-run={run.id}>
                <th scope="row" title={run.id}>
                  <input
                    type="checkbox"
                    aria-label={`Select ${name}`}
                    checked={selected.has(run.id)}
                    onChange={(event) => select(run.id, event.currentTarget.checked)}
                  />{" "}
                  <a href={href(`/runs/${encodeURIComponent(run.id)}`)}>{name}</a>
                </th>
                {columns.map((column) => (
                  <td
                    key={column.id}
                    class={column.numeric ? "number" : undefined}
                    data-column={column.id}
                  >
                    {column.show(run)}
                  </td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/**
 * "Runs 51–100 of 1,234 (page 2 of 25)" between Previous and Next, or why there are none. The
 * count is a live region that stays in the page while pages, sorts and filters change.
 */
function Pager(props: { id: string; state: RunsState; result: CountedRunsPage; stale: boolean }) {
  const { id, state, result, stale } = props;
  const { runs, total } = result;
  const pages = Math.ceil(total / state.pageSize);
  const first = (state.page - 1) * state.pageSize + 1;
  const last = first + runs.length - 1;
  const filtered = state.filter !== "" || state.status !== undefined;
  const pageLink = (page: number, label: string, rel?: string) => (
    <a href={stateHref(id, { ...state, page })} rel={rel}>
      {label}
    </a>
  );
  let count: string;
  if (runs.length > 0) {
    count =
      total === 1
        ? "1 run"
        : runs.length === 1
          ? `Run ${formatCount(first)} of ${formatCount(total)}`
          : `Runs ${formatCount(first)}–${formatCount(last)} of ${formatCount(total)}`;
    if (pages > 1) count += ` (page ${formatCount(state.page)} of ${formatCount(pages)})`;
  } else if (state.page > 1) {
    count =
      total === 0
        ? "No runs on this page."
        : `No runs on this page: ${total === 1 ? "1 run matches" : `${formatCount(total)} runs match`}.`;
  } else {
    count = filtered ? "No runs match this filter." : "No runs in this experiment yet.";
  }
  const none = runs.length === 0;
  // One element throughout, in one place: a live region is announced when its text changes,
  // not when it is inserted.
  return (
    <nav class="pager" aria-label="Pages">
      {none ? null : state.page > 1 ? (
        pageLink(state.page - 1, "← Previous", "prev")
      ) : (
        <span class="muted">← Previous</span>
      )}
      <span
        key="count"
        role="status"
        class={stale ? "runs-count runs-stale" : "runs-count"}
        aria-busy={stale ? "true" : undefined}
      >
        {count}
      </span>
      {none ? (
        // Past the last page (an old link, or runs that have gone since): the way back.
        state.page > 1 && (
          <>
            {pageLink(1, "First page")}
            {pages > 1 && pageLink(pages, "Last page")}
          </>
        )
      ) : result.nextPageToken !== undefined ? (
        pageLink(state.page + 1, "Next →", "next")
      ) : (
        <span class="muted">Next →</span>
      )}
    </nav>
  );
}
