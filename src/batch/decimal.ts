/**
 * Text that batch sources take as a number: decimal only, as JSON writes numbers (the grammar
 * of the model's input validation, src/model/validate.ts): no hex or binary ("0x10", "0b101"),
 * no leading zeros ("010"), no "+1", "1." or ".5"; exponents are decimal and allowed; blanks
 * around the number are ignored.
 */
export const DECIMAL_TEXT =
  /^[ \t\n\r]*-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?[ \t\n\r]*$/;

/** DECIMAL_TEXT for DuckDB's regexp_full_match (RE2), as a SQL string literal. */
export const DECIMAL_SQL = `'[ \\t\\n\\r]*-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?[ \\t\\n\\r]*'`;
