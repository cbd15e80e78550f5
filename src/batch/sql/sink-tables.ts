import { materialize } from "../columns.js";
import { UserError } from "../../config/errors.js";
import type { PredictionChunk } from "../types.js";
import type { ColumnKind, SqlDialect } from "./dialect.js";
import { columnName, displayName, qualified, quote, type TableName } from "./identifiers.js";

/**
 * Layout of the sink's tables, shared by both dialects: column lists, their types (inferred
 * from the first chunk as the contract says), CREATE TABLE statements, and the check that an
 * existing table has every column a write needs.
 */

export interface SinkColumn {
  name: string;
  kind: ColumnKind;
  notNull?: boolean;
}

export interface TableLayout {
  table: TableName;
  columns: SinkColumn[];
  /** Primary key, and the ON CONFLICT target of the upserts. */
  key: string[];
}

export const CHECKPOINT_TABLE = "mldeploy_batch_checkpoints";

/** The fixed provenance columns that follow the prediction. */
const PROVENANCE: SinkColumn[] = [
  { name: "model_name", kind: "text", notNull: true },
  { name: "model_version", kind: "text", notNull: true },
  { name: "run_id", kind: "text" },
  { name: "scored_at", kind: "timestamp", notNull: true },
];

/**
 * Type of a column from its values. Only ids and columns the source declares integer become
 * BIGINT: another passthrough column whose first chunk happens to hold whole numbers (a
 * distance of 2.0) may hold 2.5 later, which a BIGINT column would refuse, so other numbers
 * are DOUBLE. Mixed kinds fall back to TEXT.
 */
export function inferKind(values: readonly unknown[], integral = false): ColumnKind {
  let kind: ColumnKind | undefined;
  for (const value of values) {
    if (value === null || value === undefined) continue;
    let next: ColumnKind;
    if (typeof value === "number") next = integral && Number.isInteger(value) ? "bigint" : "double";
    else if (typeof value === "boolean") next = "boolean";
    else if (value instanceof Date) next = "timestamp";
    else next = "text";
    if (kind === undefined) kind = next;
    else if (kind !== next) {
      if ((kind === "bigint" && next === "double") || (kind === "double" && next === "bigint")) {
        kind = "double";
      } else return "text";
    }
  }
  return kind ?? "text";
}

/** The prediction table's columns a chunk writes, validated, in table order. */
export function predictionColumnNames(chunk: PredictionChunk): string[] {
  const names = [
    columnName(chunk.idColumn, "--id-column"),
    ...Object.keys(chunk.extra).map((name) => columnName(name, "--keep-columns")),
    columnName(chunk.predictionColumn, "prediction column"),
    ...PROVENANCE.map((column) => column.name),
  ];
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice !== undefined) throw new UserError(`prediction column ${twice} would appear twice`);
  return names;
}

/** The prediction table for this chunk: id, extra columns, prediction, provenance. */
export function predictionLayout(table: TableName, chunk: PredictionChunk): TableLayout {
  const [id, ...rest] = predictionColumnNames(chunk);
  const extra = rest.slice(0, -1 - PROVENANCE.length);
  const columns: SinkColumn[] = [
    { name: id, kind: inferKind(chunk.ids, true), notNull: true },
    ...extra.map((name) => ({
      name,
      kind: inferKind(materialize(chunk.extra[name]), chunk.integers?.has(name) === true),
    })),
    // A classifier's text labels are TEXT; numbers (also numeric labels) DOUBLE as ever.
    {
      name: chunk.predictionColumn,
      kind: chunk.predictions instanceof Float64Array ? "double" : "text",
    },
    ...PROVENANCE,
  ];
  return { table, columns, key: [id, "model_version"] };
}

export function rejectLayout(table: TableName): TableLayout {
  return {
    table,
    columns: [
      // TEXT: rejected ids may be anything the source holds, and this table is keyed the same
      // way whatever the id type.
      { name: "id", kind: "text", notNull: true },
      { name: "model_version", kind: "text", notNull: true },
      { name: "reason", kind: "text", notNull: true },
      { name: "row", kind: "text", notNull: true },
      { name: "rejected_at", kind: "timestamp", notNull: true },
    ],
    key: ["id", "model_version"],
  };
}

export function checkpointLayout(table: TableName): TableLayout {
  return {
    table,
    columns: [
      { name: "job_id", kind: "text", notNull: true },
      // JSON text: 42 and "42" stay apart, so a resumed read binds the id with its own type.
      { name: "since", kind: "text" },
      { name: "id", kind: "text", notNull: true },
      { name: "updated_at", kind: "timestamp", notNull: true },
    ],
    key: ["job_id"],
  };
}

export function createTableSql(dialect: SqlDialect, layout: TableLayout): string {
  const columns = layout.columns.map(
    (column) =>
      `${quote(column.name)} ${dialect.types[column.kind]}${column.notNull ? " NOT NULL" : ""}`,
  );
  const key = `PRIMARY KEY (${layout.key.map(quote).join(", ")})`;
  return `CREATE TABLE IF NOT EXISTS ${qualified(layout.table)} (\n  ${[...columns, key].join(",\n  ")}\n)`;
}

/**
 * Refuses to write into an existing table that lacks a column this write needs (a table of
 * another job, or one made by an older version), naming both.
 */
export function checkColumns(
  layout: TableLayout,
  existing: ReadonlyMap<string, string>,
  names?: readonly string[],
): void {
  for (const name of names ?? layout.columns.map((column) => column.name)) {
    if (!existing.has(name)) {
      throw new UserError(
        `table ${displayName(layout.table)} exists but has no column ${name}: ` +
          "it was made for something else; drop it or write to another --sink-table",
      );
    }
  }
}
