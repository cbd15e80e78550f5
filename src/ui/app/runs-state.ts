/**
 * The Runs page's state, all of it in the address (`#/experiments/<id>?q=…&sort=…`): filter,
 * status, sort, page, page size, chosen columns and selected runs. Reading it and writing it
 * back live here, away from the rendering.
 */
import { RUN_STATUSES, type ExperimentKeys, type RunStatus } from "./api-runs.js";

export const PAGE_SIZES = [50, 100] as const;
const DEFAULT_PAGE_SIZE = 50;
/** Shown when the address names no columns: the first few of each kind. */
const DEFAULT_COLUMNS_PER_KIND = 5;

/** The columns besides params and metrics that can be sorted, by id → MLflow attribute. */
export const ATTRIBUTE_SORTS: Record<string, string> = {
  name: "attributes.run_name",
  status: "attributes.status",
  start: "attributes.start_time",
};

export interface RunsState {
  filter: string;
  status: RunStatus | undefined;
  /** A column id: name, status, start, `metrics.<key>` or `params.<key>`. */
  sort: string | undefined;
  descending: boolean;
  page: number;
  pageSize: number;
  /** Chosen column ids (`metrics.<key>`, `params.<key>`); undefined = the defaults. */
  columns: string[] | undefined;
  selected: string[];
}

const list = (text: string | null): string[] =>
  text === null || text === "" ? [] : text.split(",").filter((item) => item !== "");

function positiveInt(text: string | null, fallback: number): number {
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= 1 ? n : fallback;
}

export function readState(query: URLSearchParams): RunsState {
  const status = query.get("status");
  const size = Number(query.get("size"));
  const cols = query.get("cols");
  return {
    filter: query.get("q") ?? "",
    status: RUN_STATUSES.includes(status as RunStatus) ? (status as RunStatus) : undefined,
    sort: query.get("sort") ?? undefined,
    descending: query.get("order") === "desc",
    page: positiveInt(query.get("page"), 1),
    pageSize: (PAGE_SIZES as readonly number[]).includes(size) ? size : DEFAULT_PAGE_SIZE,
    // "none": every param and metric column unchecked (an empty value would mean the defaults).
    columns: cols === null ? undefined : cols === "none" ? [] : list(cols),
    selected: list(query.get("sel")),
  };
}

/** The page's address for a state; commas stay readable (`sel=a,b`). */
export function stateHref(experimentId: string, state: RunsState): string {
  const query: [string, string][] = [];
  const add = (key: string, value: string | undefined) => {
    if (value !== undefined && value !== "") query.push([key, value]);
  };
  add("q", state.filter);
  add("status", state.status);
  add("sort", state.sort);
  if (state.sort !== undefined) add("order", state.descending ? "desc" : "asc");
  if (state.page > 1) add("page", String(state.page));
  if (state.pageSize !== DEFAULT_PAGE_SIZE) add("size", String(state.pageSize));
  if (state.columns !== undefined) {
    add("cols", state.columns.length === 0 ? "none" : state.columns.join(","));
  }
  add("sel", state.selected.join(","));
  const search = new URLSearchParams(query).toString().replaceAll("%2C", ",");
  return `#/experiments/${encodeURIComponent(experimentId)}${search ? `?${search}` : ""}`;
}

/** The metric and param columns to show, in the keys' order (metrics first). */
export function shownColumns(state: RunsState, keys: ExperimentKeys): string[] {
  const all = [
    ...keys.metrics.map((key) => `metrics.${key}`),
    ...keys.params.map((key) => `params.${key}`),
  ];
  if (state.columns === undefined) {
    return [
      ...keys.metrics.slice(0, DEFAULT_COLUMNS_PER_KIND).map((key) => `metrics.${key}`),
      ...keys.params.slice(0, DEFAULT_COLUMNS_PER_KIND).map((key) => `params.${key}`),
    ];
  }
  const chosen = new Set(state.columns);
  return all.filter((column) => chosen.has(column));
}

/**
 * The server's order_by for a sort column: keys are quoted with backticks, which no key may
 * contain (names.ts), so any key is safe.
 */
export function orderBy(state: RunsState): string[] {
  if (state.sort === undefined) return [];
  const direction = state.descending ? "DESC" : "ASC";
  const attribute = ATTRIBUTE_SORTS[state.sort];
  if (attribute !== undefined) return [`${attribute} ${direction}`];
  const match = /^(metrics|params)\.(.+)$/.exec(state.sort);
  return match === null ? [] : [`${match[1]}.\`${match[2]}\` ${direction}`];
}
