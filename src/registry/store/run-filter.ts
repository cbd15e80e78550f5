import { RegistryError } from "../errors.js";

/**
 * MLflow's run search syntax (mlflow/utils/search_utils.py, SearchUtils.parse_search_filter
 * and parse_order_by_for_search_runs), parsed into a typed AST:
 *
 *   metrics.valid_rmse < 5.5 and params.alpha = "0" and attributes.status = 'FINISHED'
 *
 * - keys are `metrics.`, `params.`, `tags.` or `attributes.` (and MLflow's aliases: metric,
 *   param, tag, attribute, attr, run) followed by a name; a bare name is an attribute
 *   (`status = 'FAILED'`); names with other characters than letters, digits, `_` and `.` are
 *   quoted with backticks or double quotes (metrics.`eval/rmse`);
 * - metrics and the numeric attributes (start_time, created, end_time) take =, !=, <, <=, >,
 *   >= and a number; params, tags and the text attributes take =, !=, LIKE, ILIKE and a
 *   quoted string; the text attributes also take IN / NOT IN ('a', 'b');
 * - clauses are joined with AND only (as MLflow: OR is refused).
 *
 * Errors are RegistryErrors (INVALID_VALUE) whose message names the 1-based character
 * position, e.g. `filter: expected a comparator at position 23`; `position` carries it too.
 */

export type KeyType = "metric" | "param" | "tag" | "attribute";

/** The columns of `runs` a filter or an order may name, by MLflow's attribute names. */
export const TEXT_ATTRIBUTES = {
  run_id: "id",
  run_name: "name",
  status: "status",
  artifact_uri: "artifact_uri",
} as const;
export const NUMERIC_ATTRIBUTES = {
  start_time: "start_time",
  created: "start_time",
  end_time: "end_time",
} as const;
export type RunColumn =
  | (typeof TEXT_ATTRIBUTES)[keyof typeof TEXT_ATTRIBUTES]
  | (typeof NUMERIC_ATTRIBUTES)[keyof typeof NUMERIC_ATTRIBUTES];

export type NumericComparator = "=" | "!=" | "<" | "<=" | ">" | ">=";
export type TextComparator = "=" | "!=" | "LIKE" | "ILIKE";

export type RunKey =
  | { type: "metric" | "param" | "tag"; name: string }
  | { type: "attribute"; name: string; column: RunColumn; numeric: boolean };

export type Clause =
  | { kind: "number"; key: RunKey; comparator: NumericComparator; value: number }
  | { kind: "text"; key: RunKey; comparator: TextComparator; value: string }
  | { kind: "in"; key: RunKey; negated: boolean; values: string[] };

export interface OrderTerm {
  key: RunKey;
  ascending: boolean;
}

export class RunSearchSyntaxError extends RegistryError {
  constructor(
    readonly field: string,
    message: string,
    /** 1-based character position in the field's text. */
    readonly position: number,
  ) {
    super("INVALID_VALUE", `${field}: ${message} at position ${position}`);
    this.name = "RunSearchSyntaxError";
  }
}

const KEY_TYPES: Record<string, KeyType> = {
  metric: "metric",
  metrics: "metric",
  param: "param",
  params: "param",
  parameter: "param",
  parameters: "param",
  tag: "tag",
  tags: "tag",
  attribute: "attribute",
  attributes: "attribute",
  attr: "attribute",
  run: "attribute",
};

const NUMERIC_COMPARATORS: readonly string[] = ["=", "!=", "<", "<=", ">", ">="];
const TEXT_COMPARATORS: readonly string[] = ["=", "!=", "LIKE", "ILIKE"];

type Token =
  | { kind: "word"; text: string; start: number }
  | { kind: "quoted"; text: string; quote: string; start: number }
  | { kind: "number"; value: number; start: number }
  | { kind: "op"; text: string; start: number }
  | { kind: "end"; start: number };

const WORD = /[A-Za-z_][A-Za-z0-9_.]*/y;
const NUMBER = /[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y;
const OPERATOR = /!=|<=|>=|<|>|=|\(|\)|,/y;

function tokenize(field: string, text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const match = (re: RegExp): string | undefined => {
    re.lastIndex = i;
    return re.exec(text)?.[0];
  };
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "'" || c === '"' || c === "`") {
      const close = text.indexOf(c, i + 1);
      if (close < 0) throw new RunSearchSyntaxError(field, `unclosed ${c} quote`, i + 1);
      tokens.push({ kind: "quoted", text: text.slice(i + 1, close), quote: c, start: i });
      i = close + 1;
      continue;
    }
    const word = match(WORD);
    if (word !== undefined) {
      tokens.push({ kind: "word", text: word, start: i });
      i += word.length;
      continue;
    }
    const number = match(NUMBER);
    if (number !== undefined) {
      tokens.push({ kind: "number", value: Number(number), start: i });
      i += number.length;
      continue;
    }
    const op = match(OPERATOR);
    if (op !== undefined) {
      tokens.push({ kind: "op", text: op, start: i });
      i += op.length;
      continue;
    }
    throw new RunSearchSyntaxError(field, `unexpected character "${c}"`, i + 1);
  }
  tokens.push({ kind: "end", start: text.length });
  return tokens;
}

/** A cursor over tokens, with errors that point at the current one. */
class Cursor {
  private index = 0;
  constructor(
    readonly field: string,
    private readonly tokens: Token[],
  ) {}

  peek(): Token {
    return this.tokens[this.index];
  }
  next(): Token {
    const token = this.tokens[this.index];
    if (token.kind !== "end") this.index++;
    return token;
  }
  fail(message: string, token: Token = this.peek()): never {
    throw new RunSearchSyntaxError(this.field, message, token.start + 1);
  }
  isWord(...words: string[]): boolean {
    const token = this.peek();
    return token.kind === "word" && words.includes(token.text.toUpperCase());
  }
  isOp(op: string): boolean {
    const token = this.peek();
    return token.kind === "op" && token.text === op;
  }
}

function describe(token: Token): string {
  switch (token.kind) {
    case "end":
      return "the end";
    case "number":
      return String(token.value);
    case "quoted":
      return `${token.quote}${token.text}${token.quote}`;
    default:
      return `"${token.text}"`;
  }
}

/** `metrics.rmse`, metrics.`eval/rmse`, `status`… */
function parseKey(cursor: Cursor): RunKey {
  const token = cursor.peek();
  if (token.kind !== "word") {
    cursor.fail(
      `expected a key such as metrics.rmse, params.alpha or status, found ${describe(token)}`,
    );
  }
  cursor.next();
  const dot = token.text.indexOf(".");
  const prefix = dot < 0 ? token.text : token.text.slice(0, dot);
  let name: string;
  let type: KeyType;
  if (dot < 0 && KEY_TYPES[prefix.toLowerCase()] === undefined) {
    // A bare name is an attribute, as in MLflow (status = 'FAILED').
    type = "attribute";
    name = token.text;
  } else {
    const found = KEY_TYPES[prefix.toLowerCase()];
    if (found === undefined) {
      cursor.fail(
        `unknown key type "${prefix}" (expected metrics, params, tags or attributes)`,
        token,
      );
    }
    type = found;
    if (dot < 0 || dot === token.text.length - 1) {
      // metrics.`eval/rmse`: the word ends with the dot (or lacks it) and a quoted name follows.
      const quoted = cursor.peek();
      if (quoted.kind !== "quoted" || quoted.quote === "'") {
        cursor.fail(`expected a name after "${prefix}." (quote it with backticks if needed)`);
      }
      if (dot < 0) cursor.fail(`expected "." after "${prefix}"`, quoted);
      cursor.next();
      name = quoted.text;
    } else {
      name = token.text.slice(dot + 1);
    }
  }
  if (name === "") cursor.fail("expected a key name", token);
  if (type !== "attribute") return { type, name };
  const attribute = name.toLowerCase();
  if (attribute in TEXT_ATTRIBUTES) {
    return {
      type,
      name: attribute,
      column: TEXT_ATTRIBUTES[attribute as keyof typeof TEXT_ATTRIBUTES],
      numeric: false,
    };
  }
  if (attribute in NUMERIC_ATTRIBUTES) {
    return {
      type,
      name: attribute,
      column: NUMERIC_ATTRIBUTES[attribute as keyof typeof NUMERIC_ATTRIBUTES],
      numeric: true,
    };
  }
  const known = [...Object.keys(TEXT_ATTRIBUTES), ...Object.keys(NUMERIC_ATTRIBUTES)];
  return cursor.fail(`unknown attribute "${name}" (expected one of ${known.join(", ")})`, token);
}

function parseComparator(cursor: Cursor): { text: string; token: Token } {
  const token = cursor.peek();
  if (token.kind === "op" && NUMERIC_COMPARATORS.includes(token.text)) {
    cursor.next();
    return { text: token.text, token };
  }
  if (cursor.isWord("LIKE", "ILIKE", "IN")) {
    cursor.next();
    return { text: (token as { text: string }).text.toUpperCase(), token };
  }
  if (cursor.isWord("NOT")) {
    cursor.next();
    if (!cursor.isWord("IN")) cursor.fail('expected "IN" after "NOT"');
    cursor.next();
    return { text: "NOT IN", token };
  }
  return cursor.fail(
    `expected a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN), found ${describe(token)}`,
  );
}

function parseString(cursor: Cursor, key: RunKey): string {
  const token = cursor.peek();
  if (token.kind !== "quoted" || token.quote === "`") {
    cursor.fail(`expected a quoted string for ${describeKey(key)}, found ${describe(token)}`);
  }
  cursor.next();
  return token.text;
}

function describeKey(key: RunKey): string {
  return key.type === "attribute" ? `attributes.${key.name}` : `${key.type}s.${key.name}`;
}

function parseClause(cursor: Cursor): Clause {
  const key = parseKey(cursor);
  const comparator = parseComparator(cursor);
  const numeric = key.type === "metric" || (key.type === "attribute" && key.numeric);
  if (comparator.text === "IN" || comparator.text === "NOT IN") {
    if (key.type !== "attribute" || key.numeric) {
      cursor.fail(`${describeKey(key)} does not take ${comparator.text}`, comparator.token);
    }
    if (!cursor.isOp("(")) cursor.fail(`expected "(" after ${comparator.text}`);
    cursor.next();
    const values = [parseString(cursor, key)];
    while (cursor.isOp(",")) {
      cursor.next();
      values.push(parseString(cursor, key));
    }
    if (!cursor.isOp(")")) cursor.fail('expected "," or ")"');
    cursor.next();
    return { kind: "in", key, negated: comparator.text === "NOT IN", values };
  }
  if (numeric) {
    if (!NUMERIC_COMPARATORS.includes(comparator.text)) {
      cursor.fail(
        `${describeKey(key)} is a number: compare it with =, !=, <, <=, > or >=`,
        comparator.token,
      );
    }
    const token = cursor.peek();
    if (token.kind !== "number") {
      cursor.fail(`expected a number for ${describeKey(key)}, found ${describe(token)}`);
    }
    cursor.next();
    return {
      kind: "number",
      key,
      comparator: comparator.text as NumericComparator,
      value: token.value,
    };
  }
  if (!TEXT_COMPARATORS.includes(comparator.text)) {
    cursor.fail(
      `${describeKey(key)} is text: compare it with =, !=, LIKE or ILIKE`,
      comparator.token,
    );
  }
  return {
    kind: "text",
    key,
    comparator: comparator.text as TextComparator,
    value: parseString(cursor, key),
  };
}

/** Parses a filter; an empty or blank one is no clause (every run). */
export function parseRunFilter(text: string, field = "filter"): Clause[] {
  const cursor = new Cursor(field, tokenize(field, text));
  const clauses: Clause[] = [];
  if (cursor.peek().kind === "end") return clauses;
  for (;;) {
    clauses.push(parseClause(cursor));
    const token = cursor.peek();
    if (token.kind === "end") return clauses;
    if (cursor.isWord("AND")) {
      cursor.next();
      continue;
    }
    if (cursor.isWord("OR")) {
      cursor.fail('OR is not supported (as in MLflow, clauses are joined with "and")');
    }
    cursor.fail(`expected "and" or the end, found ${describe(token)}`);
  }
}

/** Parses one `order_by` term: `metrics.rmse`, `params.alpha DESC`, `start_time ASC`. */
export function parseOrderTerm(text: string, field = "orderBy"): OrderTerm {
  const cursor = new Cursor(field, tokenize(field, text));
  const key = parseKey(cursor);
  let ascending = true;
  if (cursor.isWord("ASC", "DESC")) {
    ascending = cursor.isWord("ASC");
    cursor.next();
  }
  if (cursor.peek().kind !== "end") {
    cursor.fail(`expected ASC, DESC or the end, found ${describe(cursor.peek())}`);
  }
  return { key, ascending };
}
