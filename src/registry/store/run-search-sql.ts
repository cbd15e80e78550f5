import { RegistryError } from "../errors.js";
import { placeholders, type SqlDatabase, type SqlValue } from "./sql-database.js";
import {
  parseOrderTerm,
  parseRunFilter,
  type Clause,
  type OrderTerm,
  type RunKey,
} from "./run-filter.js";

/**
 * Compiles a parsed run search to one parameterised SELECT over `runs` for SQLite and
 * PostgreSQL: user values only ever travel as bound parameters. Metrics compare and sort by
 * their latest value (latest_metrics, kept by logMetrics with MLflow's rule).
 *
 * Ordering follows MLflow's SqlAlchemyStore._get_orderby_clauses
 * (mlflow/store/tracking/sqlalchemy_store.py): runs missing a key sort last whatever the
 * direction, then start time newest first unless ordered by it; our last tie-breaker is the
 * creation order (newest first, as listRuns) where MLflow uses the run id.
 */

export const DEFAULT_MAX_RESULTS = 1000;
export const MAX_RESULTS = 50_000;

type Dialect = SqlDatabase["dialect"];

const KEY_TABLES = { metric: "latest_metrics", param: "params", tag: "run_tags" } as const;

export interface RunSearchQuery {
  experimentIds: readonly string[];
  filter: string;
  orderBy: readonly string[];
  limit: number;
  offset: number;
}

/**
 * SELECT of the `seq` of one page of runs, in order; `limit` rows from `offset`. Only the key is
 * sorted (the store reads the page's rows after): a sort that carries whole rows costs half as
 * much again when the page is deep (OFFSET 9,900 sorts 10,000 of them).
 */
export function compileRunSearch(
  query: RunSearchQuery,
  dialect: Dialect,
): { sql: string; params: SqlValue[] } {
  const clauses = parseRunFilter(query.filter);
  const order = query.orderBy.map((term, i) => parseOrderTerm(term, `orderBy[${i}]`));
  const params: SqlValue[] = [];

  // Placeholders are positional: joins come before WHERE in the text, so their values first.
  const joins: string[] = [];
  const orderBy: string[] = [];
  order.forEach((term, i) => {
    const value = orderValue(term.key, `o${i}`, dialect, joins, params);
    // (x IS NULL) is 0/1 on SQLite and false/true on PostgreSQL: missing keys sort last.
    orderBy.push(`(${value} IS NULL)`, `${value} ${term.ascending ? "ASC" : "DESC"}`);
  });
  if (!order.some((term) => isStartTime(term))) orderBy.push("runs.start_time DESC");
  orderBy.push("runs.seq DESC");

  const where = whereClause(query.experimentIds, clauses, dialect, params);
  params.push(query.limit, query.offset);

  const sql =
    `SELECT runs.seq FROM runs ${joins.join(" ")} ${where}` +
    `ORDER BY ${orderBy.join(", ")} LIMIT ? OFFSET ?`;
  return { sql, params };
}

/**
 * SELECT COUNT(*) of the runs a search matches, over all its pages: the same WHERE as
 * compileRunSearch, without the sort's joins (they are LEFT JOINs on a primary key, so they
 * never change how many runs there are).
 */
export function compileRunCount(
  query: Pick<RunSearchQuery, "experimentIds" | "filter">,
  dialect: Dialect,
): { sql: string; params: SqlValue[] } {
  const params: SqlValue[] = [];
  const where = whereClause(query.experimentIds, parseRunFilter(query.filter), dialect, params);
  return { sql: `SELECT COUNT(*) AS total FROM runs ${where}`.trimEnd(), params };
}

/** `WHERE … ` (with its trailing space), or "" when nothing is filtered; appends its values. */
function whereClause(
  experimentIds: readonly string[],
  clauses: readonly Clause[],
  dialect: Dialect,
  params: SqlValue[],
): string {
  const where: string[] = [];
  if (experimentIds.length > 0) {
    where.push(`runs.experiment_id IN (${placeholders(experimentIds.length)})`);
    params.push(...experimentIds);
  }
  for (const clause of clauses) where.push(condition(clause, dialect, params));
  return where.length > 0 ? `WHERE ${where.join(" AND ")} ` : "";
}

function isStartTime(term: OrderTerm): boolean {
  return term.key.type === "attribute" && term.key.column === "start_time";
}

/**
 * The value a term sorts by. Text sorts by code point on both engines: PostgreSQL's values
 * use the database's collation otherwise (the schema gives only names the "C" one).
 */
function orderValue(
  key: RunKey,
  alias: string,
  dialect: Dialect,
  joins: string[],
  params: SqlValue[],
): string {
  const text =
    key.type === "param" || key.type === "tag" || (key.type === "attribute" && !key.numeric);
  const collate = text && dialect === "postgres" ? ' COLLATE "C"' : "";
  if (key.type === "attribute") return `runs.${key.column}${collate}`;
  joins.push(
    `LEFT JOIN ${KEY_TABLES[key.type]} ${alias} ON ${alias}.run_id = runs.id AND ${alias}.key = ?`,
  );
  params.push(key.name);
  return `${alias}.value${collate}`;
}

function condition(clause: Clause, dialect: Dialect, params: SqlValue[]): string {
  const key = clause.key;
  let column: string;
  let where: (sql: string) => string;
  if (key.type === "attribute") {
    column = `runs.${key.column}`;
    where = (sql) => sql;
  } else {
    // EXISTS on the (run_id, key) primary key: a run without the key never matches, even
    // with != (as MLflow's inner join).
    column = "k.value";
    where = (sql) =>
      `EXISTS (SELECT 1 FROM ${KEY_TABLES[key.type]} k WHERE k.run_id = runs.id AND k.key = ? AND ${sql})`;
    params.push(key.name);
  }
  switch (clause.kind) {
    case "number":
      params.push(clause.value);
      // The cast keeps PostgreSQL from reading 1.5 as a BIGINT for start_time.
      return where(
        `${column} ${clause.comparator} CAST(? AS ${dialect === "postgres" ? "DOUBLE PRECISION" : "REAL"})`,
      );
    case "in":
      params.push(...clause.values);
      return where(
        `${column} ${clause.negated ? "NOT IN" : "IN"} (${placeholders(clause.values.length)})`,
      );
    case "text":
      return where(textComparison(column, clause.comparator, clause.value, dialect, params));
  }
}

/**
 * LIKE is case-sensitive and ILIKE is not, on both engines, with no escape character: SQLite's
 * LIKE ignores ASCII case, so a case-sensitive LIKE becomes the equivalent GLOB there.
 */
function textComparison(
  column: string,
  comparator: "=" | "!=" | "LIKE" | "ILIKE",
  value: string,
  dialect: Dialect,
  params: SqlValue[],
): string {
  if (comparator === "=" || comparator === "!=") {
    params.push(value);
    return `${column} ${comparator} ?`;
  }
  if (dialect === "postgres") {
    params.push(value);
    return `${column} ${comparator} ? ESCAPE ''`;
  }
  if (comparator === "ILIKE") {
    params.push(value);
    return `${column} LIKE ?`;
  }
  params.push(likeToGlob(value));
  return `${column} GLOB ?`;
}

/** A LIKE pattern as the GLOB pattern matching the same strings (% → *, _ → ?). */
export function likeToGlob(pattern: string): string {
  let glob = "";
  for (const c of pattern) {
    if (c === "%") glob += "*";
    else if (c === "_") glob += "?";
    else if (c === "*" || c === "?" || c === "[") glob += `[${c}]`;
    else glob += c;
  }
  return glob;
}

// ── page tokens ──
// As MLflow (SearchUtils.create_page_token): base64 of {"offset": n}, opaque to clients.

export function createPageToken(offset: number): string {
  return Buffer.from(JSON.stringify({ offset })).toString("base64");
}

export function parsePageToken(token: string | undefined): number {
  if (token === undefined || token === "") return 0;
  let offset: unknown;
  try {
    offset = (JSON.parse(Buffer.from(token, "base64").toString("utf8")) as { offset?: unknown })
      .offset;
  } catch {
    offset = undefined;
  }
  if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) {
    throw new RegistryError(
      "INVALID_VALUE",
      "pageToken: not a token from a previous search (pass nextPageToken back as it came)",
    );
  }
  return offset;
}
