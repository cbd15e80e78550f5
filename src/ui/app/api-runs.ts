/** The API calls of the Experiments and Runs pages. */
import type {
  ExperimentKeys,
  ExperimentSummary,
  RunStatus,
  SearchRunsResult,
} from "../../registry/store/types.js";
import { ApiError, getJson, requestJson } from "./api.js";

export type { ExperimentKeys, ExperimentSummary, RunStatus };

export const RUN_STATUSES: readonly RunStatus[] = ["RUNNING", "FINISHED", "FAILED", "KILLED"];

/** Every experiment with its run count and last activity, counted by the server. */
export const listExperimentSummaries = () => getJson<ExperimentSummary[]>("/experiment-summaries");

/** The param, metric and tag keys an experiment's runs have logged: the columns to offer. */
export const getExperimentKeys = (id: string) =>
  getJson<ExperimentKeys>(`/experiments/${encodeURIComponent(id)}/keys`);

export interface RunsQuery {
  experimentId: string;
  /** What the user typed, MLflow's search syntax. */
  filter: string;
  status: RunStatus | undefined;
  /** MLflow order_by terms, e.g. `metrics.\`valid_rmse\` DESC`. */
  orderBy: string[];
  /** 1-based. */
  page: number;
  pageSize: number;
}

/** A filter the server refused: its message, and where in the user's text the fault is. */
export class FilterSyntaxError extends Error {
  constructor(
    message: string,
    /** 1-based character position in the user's filter (may be one past its end). */
    readonly position: number,
  ) {
    super(message);
  }
}

/**
 * The status filter is a clause put BEFORE the user's text, so that a syntax error's position,
 * less the clause's length, points into what the user typed.
 */
function statusClause(status: RunStatus | undefined): string {
  return status === undefined ? "" : `attributes.status = '${status}'`;
}

/**
 * The server's page tokens are MLflow's (base64 of `{"offset": n}`, run-search-sql.ts): the page
 * number in the address stands for one, so any page can be shared and reloaded.
 */
function pageToken(offset: number): string | undefined {
  return offset === 0 ? undefined : btoa(JSON.stringify({ offset }));
}

/** A page of runs and how many match over all pages. */
export type CountedRunsPage = SearchRunsResult & { total: number };

/**
 * One page of runs, filtered, sorted and paged by the server (POST /runs/search), with the
 * count of the runs that match (`includeTotal`: one COUNT on the server).
 */
export async function searchRuns(query: RunsQuery): Promise<CountedRunsPage> {
  const prefix = statusClause(query.status);
  const user = query.filter.trim() === "" ? "" : query.filter;
  const filter = prefix && user ? `${prefix} and ${user}` : prefix || user;
  try {
    return await requestJson<CountedRunsPage>("POST", "/runs/search", {
      body: {
        experimentIds: [query.experimentId],
        filter,
        orderBy: query.orderBy,
        maxResults: query.pageSize,
        pageToken: pageToken((query.page - 1) * query.pageSize),
        includeTotal: true,
      },
    });
  } catch (error) {
    throw filterError(error, prefix && user ? prefix.length + " and ".length : 0) ?? error;
  }
}

/** The server says `filter: <what> at position <n>` (and sends `field` and `position` too). */
function filterError(error: unknown, shift: number): FilterSyntaxError | undefined {
  if (!(error instanceof ApiError) || error.field !== "filter") return undefined;
  const match = /^filter: (.*) at position (\d+)$/s.exec(error.message);
  if (match === null) return undefined;
  return new FilterSyntaxError(match[1], Math.max(1, Number(match[2]) - shift));
}
