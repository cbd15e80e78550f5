/**
 * Column values of a batch chunk. Sources that read columnar data (DuckDB) hand numbers and
 * timestamps over as a NumericColumn: one Float64Array instead of a JS value per row, which
 * spares the allocation and garbage collection of a million numbers or Dates per million rows
 * (the largest cost of a Parquet → Parquet run before). Row-oriented sources (SQL drivers) give
 * plain arrays. Code that needs values one by one reads them with valueAt() or materialize().
 */

export type NumericKind = "number" | "timestamp";

/** Numbers, or timestamps as epoch milliseconds; NaN stands for NULL. */
export class NumericColumn {
  constructor(
    readonly kind: NumericKind,
    readonly values: Float64Array,
  ) {}

  get length(): number {
    return this.values.length;
  }

  /** The value at `row` as a JS value: null for NULL, a Date for a timestamp. */
  at(row: number): number | Date | null {
    const value = this.values[row];
    if (Number.isNaN(value)) return null;
    return this.kind === "timestamp" ? new Date(value) : value;
  }
}

export type ColumnData = unknown[] | NumericColumn;

/** The value at `row` (null for NULL, Date for timestamps), whatever the column's form. */
export function valueAt(column: ColumnData, row: number): unknown {
  return column instanceof NumericColumn ? column.at(row) : column[row];
}

/** The column as one JS value per row, for code that binds values one by one (SQL drivers). */
export function materialize(column: ColumnData): unknown[] {
  if (!(column instanceof NumericColumn)) return column;
  const out = new Array<unknown>(column.length);
  for (let row = 0; row < column.length; row++) out[row] = column.at(row);
  return out;
}

/** The rows `rows` of a column, in that order, in the column's own form. */
export function pickRows(column: ColumnData, rows: ArrayLike<number>): ColumnData {
  if (column instanceof NumericColumn) {
    const values = new Float64Array(rows.length);
    for (let i = 0; i < rows.length; i++) values[i] = column.values[rows[i]];
    return new NumericColumn(column.kind, values);
  }
  const out = new Array<unknown>(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = column[rows[i]];
  return out;
}

/** A column of `rows` NULLs. */
export function nullColumn(rows: number): NumericColumn {
  return new NumericColumn("number", new Float64Array(rows).fill(Number.NaN));
}
