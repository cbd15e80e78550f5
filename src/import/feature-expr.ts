import type { ColumnType, FeatureExpr } from "../model/types.js";
import { ImportError } from "./types.js";

/**
 * `--feature NAME=EXPR`: feature building that lived in the user's Python code (the original
 * service built `PU_DO` from two ids before `dv.transform`), declared instead of guessed.
 *
 *   declaration := NAME "=" expr
 *   expr        := term ("+" term)*
 *   term        := column | string | number | "(" expr ")"
 *   column      := identifier ([A-Za-z_][A-Za-z0-9_.]*) | `any name` (backquotes)
 *   string      := "text" with \" \\ \n \t \uXXXX escapes
 *
 * Parentheses only group: `+` is associative for both texts and numbers, so an expression is
 * one flat list of terms. Whether `+` joins texts or adds numbers is decided for the whole
 * expression when it is compiled against the model (compileFeature).
 */

export type FeatureTerm =
  | { kind: "column"; name: string }
  | { kind: "string"; value: string }
  | { kind: "number"; value: number };

export interface FeatureDeclaration {
  /** The model input the expression produces. */
  name: string;
  terms: FeatureTerm[];
  /** The declaration as given, for messages. */
  text: string;
}

const IDENTIFIER_START = /[A-Za-z_]/;
const IDENTIFIER_PART = /[A-Za-z0-9_.]/;

/** Parses one `NAME=EXPR`; errors name the option, the declaration and the character (1-based). */
export function parseFeatureDeclaration(text: string): FeatureDeclaration {
  return new Parser(text).declaration();
}

/** Parses every declaration; a name declared twice is refused. */
export function parseFeatureDeclarations(texts: readonly string[]): FeatureDeclaration[] {
  const seen = new Set<string>();
  return texts.map((text) => {
    const declaration = parseFeatureDeclaration(text);
    if (seen.has(declaration.name)) {
      throw new ImportError(`--feature '${text}': "${declaration.name}" is declared twice`);
    }
    seen.add(declaration.name);
    return declaration;
  });
}

class Parser {
  private pos = 0;

  constructor(private readonly text: string) {}

  declaration(): FeatureDeclaration {
    this.skipSpace();
    const name = this.peek() === "`" ? this.quotedName() : this.identifier();
    if (name === undefined) this.fail("expected the feature's name before '='");
    this.skipSpace();
    if (this.peek() !== "=") this.fail("expected '=' after the feature's name");
    this.pos++;
    const terms = this.expression();
    this.skipSpace();
    if (this.pos < this.text.length) {
      this.fail(
        this.peek() === ")" ? "unbalanced ')'" : `expected '+' or the end, found '${this.peek()}'`,
      );
    }
    return { name, terms, text: this.text };
  }

  private expression(): FeatureTerm[] {
    const terms = this.term("after '='");
    for (;;) {
      this.skipSpace();
      if (this.peek() !== "+") return terms;
      this.pos++;
      terms.push(...this.term("after '+'"));
    }
  }

  private term(where: string): FeatureTerm[] {
    this.skipSpace();
    const c = this.peek();
    if (c === "(") {
      this.pos++;
      const inner = this.expression();
      this.skipSpace();
      if (this.peek() !== ")") this.fail("expected ')'");
      this.pos++;
      return inner;
    }
    if (c === '"') return [{ kind: "string", value: this.stringLiteral() }];
    if (c === "`") return [{ kind: "column", name: this.quotedName() }];
    if (c !== undefined && /[0-9-]/.test(c)) return [{ kind: "number", value: this.number() }];
    const name = this.identifier();
    if (name !== undefined) return [{ kind: "column", name }];
    return this.fail(`expected a column or a string ${where}`);
  }

  private identifier(): string | undefined {
    const start = this.pos;
    if (!IDENTIFIER_START.test(this.peek() ?? "")) return undefined;
    while (IDENTIFIER_PART.test(this.peek() ?? "")) this.pos++;
    return this.text.slice(start, this.pos);
  }

  private quotedName(): string {
    const start = this.pos;
    const end = this.text.indexOf("`", start + 1);
    if (end < 0) this.fail("unterminated `quoted name`", start);
    if (end === start + 1) this.fail("empty `quoted name`", start);
    this.pos = end + 1;
    return this.text.slice(start + 1, end);
  }

  private number(): number {
    const match = /^-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/.exec(
      this.text.slice(this.pos),
    );
    if (!match) return this.fail("expected a number");
    this.pos += match[0].length;
    return Number(match[0]);
  }

  private stringLiteral(): string {
    const start = this.pos;
    this.pos++;
    let value = "";
    for (;;) {
      const c = this.peek();
      if (c === undefined) return this.fail('unterminated string (missing closing ")', start);
      this.pos++;
      if (c === '"') return value;
      if (c !== "\\") {
        value += c;
        continue;
      }
      const escaped = this.peek();
      this.pos++;
      switch (escaped) {
        case '"':
        case "\\":
          value += escaped;
          break;
        case "n":
          value += "\n";
          break;
        case "t":
          value += "\t";
          break;
        case "u": {
          const hex = this.text.slice(this.pos, this.pos + 4);
          if (!/^[0-9A-Fa-f]{4}$/.test(hex)) this.fail("expected 4 hex digits after \\u");
          value += String.fromCharCode(parseInt(hex, 16));
          this.pos += 4;
          break;
        }
        default:
          this.fail(`unknown escape \\${escaped ?? ""} in a string`, this.pos - 2);
      }
    }
  }

  private skipSpace(): void {
    while (/\s/.test(this.peek() ?? "")) this.pos++;
  }

  private peek(): string | undefined {
    return this.pos < this.text.length ? this.text[this.pos] : undefined;
  }

  private fail(message: string, at = this.pos): never {
    throw new ImportError(`--feature '${this.text}': ${message} at character ${at + 1}`);
  }
}

/** Columns an expression reads. */
export function termColumns(declaration: FeatureDeclaration): string[] {
  return declaration.terms.flatMap((term) => (term.kind === "column" ? [term.name] : []));
}

/**
 * The declaration as the bundle's FeatureExpr. `+` joins texts when the model takes the
 * feature as a string, or any term is a string literal or a column the model itself takes as a
 * string; otherwise it adds numbers. A single column is passed through as it is.
 */
export function compileFeature(
  declaration: FeatureDeclaration,
  context: {
    /** The graph input's type, when the feature is one. */
    target?: ColumnType;
    /** Graph inputs the model takes as strings (a column of those is a text). */
    stringColumns: ReadonlySet<string>;
  },
): FeatureExpr {
  const { terms } = declaration;
  if (terms.length === 1 && terms[0].kind === "column" && context.target !== "string") {
    return { column: terms[0].name };
  }
  const joinsText =
    context.target === "string" ||
    terms.some(
      (term) =>
        term.kind === "string" || (term.kind === "column" && context.stringColumns.has(term.name)),
    );
  if (joinsText) {
    if (context.target !== undefined && context.target !== "string") {
      throw new ImportError(
        `--feature '${declaration.text}': the model takes "${declaration.name}" as a number (${context.target}), but the expression joins texts`,
      );
    }
    return {
      concat: terms.map((term) =>
        term.kind === "column"
          ? { column: term.name }
          : term.kind === "string"
            ? term.value
            : pythonNumber(term.value),
      ),
    };
  }
  return {
    sum: terms.map((term) =>
      term.kind === "column" ? { column: term.name } : (term as { value: number }).value,
    ),
  };
}

/** A number literal inside a text, as Python's str() prints it (integers without ".0"). */
function pythonNumber(value: number): string {
  return String(value);
}

/** A declaration back as text, for cache keys and provenance. */
export function describeFeatures(declarations: readonly FeatureDeclaration[]): string[] {
  return declarations.map((d) => d.text.trim());
}
