/**
 * A reference (or current) window from any Parquet or CSV file holding the model's input
 * columns under their names (e.g. rides exported from a warehouse). The prediction column is
 * used when the file has it; otherwise it is absent from the window. `time`, `version` and
 * `id` columns are used when the file has them.
 */
import { sqlIdentifier } from "../../../duckdb/index.js";
import { UserError } from "../../../config/errors.js";
import type { FrameColumn, WindowFrame } from "../types.js";
import {
  checkTableName,
  describeRows,
  findColumn,
  materialize,
  useUtc,
  versionsOf,
  windowSql,
  type SourceContext,
} from "./context.js";
import { describeFrom, fileReader } from "./files.js";

export interface FileWindowOptions {
  table: string;
  path: string;
  columns: FrameColumn[];
  maxRows?: number;
  /** The setting that named the file, for errors (default --reference). */
  flag?: string;
}

export async function loadFileWindow(
  ctx: SourceContext,
  o: FileWindowOptions,
): Promise<WindowFrame> {
  const table = checkTableName(o.table);
  const flag = o.flag ?? "--reference";
  await useUtc(ctx.connection);
  const from = await fileReader(o.path, flag);
  const available = await describeFrom(ctx, from, `${flag} ${o.path}`);
  const present = o.columns.filter((c) => findColumn(available, c.name) !== undefined);
  if (!present.some((c) => c.role === "input"))
    throw new UserError(
      `${flag} ${o.path} has none of the model's input columns (${o.columns
        .filter((c) => c.role === "input")
        .map((c) => c.name)
        .join(", ")}); it has: ${available.join(", ")}`,
    );
  const optional = (name: string) => {
    const found = findColumn(available, name);
    return found === undefined ? "NULL" : sqlIdentifier(found);
  };
  const time = findColumn(available, "time");
  const sql = windowSql({
    time: time === undefined ? "NULL" : `CAST(${sqlIdentifier(time)} AS TIMESTAMPTZ)`,
    version: optional("version"),
    id: optional("id"),
    columns: present.map((column) => ({
      column,
      expr: sqlIdentifier(findColumn(available, column.name) ?? column.name),
    })),
    from: `${from} AS file`,
  });
  const m = await materialize(ctx.connection, table, sql, o.maxRows, `${flag} ${o.path}`);
  const absent = o.columns.filter((c) => !present.includes(c));
  return {
    table,
    rows: m.rows,
    columns: present,
    description:
      `file ${o.path}${describeRows(m)}` +
      (absent.length > 0 ? `; not in the file: ${absent.map((c) => c.name).join(", ")}` : ""),
    kind: "training",
    skipped: [],
    versions: await versionsOf(ctx.connection, table),
  };
}
