/**
 * A window of the prediction log as a DuckDB table: the part files of the model whose hours
 * overlap the window (torn, foreign and old-format files skipped with a warning), read by
 * DuckDB and filtered, typed and (above maxRows) sampled in one statement.
 */
import { sqlIdentifier, sqlString } from "../../../duckdb/index.js";
import {
  LIST_ATTEMPTS,
  changingMessage,
  mergedFilesReplaced,
  predictionLogFiles,
  predictionLogSql,
} from "../../prediction-log/reader.js";
import type { FrameColumn, WindowFrame } from "../types.js";
import {
  checkTableName,
  count,
  createEmptyWindow,
  describeRows,
  describeWindow,
  findColumn,
  materialize,
  useUtc,
  versionsOf,
  windowSql,
  type SourceContext,
  type WindowBounds,
} from "./context.js";

export interface LogWindowOptions {
  table: string;
  /** The log's root directory (<data-dir>/prediction-log). */
  dir: string;
  model: string;
  /** Absent: everything logged. */
  window?: WindowBounds;
  /** Only this model version's rows. */
  version?: string;
  columns: FrameColumn[];
  /** Above this many rows, a seeded reservoir sample of this size. */
  maxRows?: number;
}

export async function loadLogWindow(ctx: SourceContext, o: LogWindowOptions): Promise<WindowFrame> {
  for (let attempt = 1; ; attempt++) {
    const frame = await loadLogWindowOnce(ctx, o);
    if (frame !== "replaced") return frame;
    // A merged file was replaced by one holding more parts while the rows were read (see
    // mergedFilesReplaced): some may be in the table twice.
    if (attempt >= LIST_ATTEMPTS) throw new Error(changingMessage(o.dir));
  }
}

async function loadLogWindowOnce(
  ctx: SourceContext,
  o: LogWindowOptions,
): Promise<WindowFrame | "replaced"> {
  const { connection, logger } = ctx;
  const table = checkTableName(o.table);
  await useUtc(connection);
  const listed = await predictionLogFiles(connection, {
    dir: o.dir,
    model: o.model,
    from: o.window?.from,
    to: o.window?.to,
    logger,
  });
  const { files, skipped } = listed;
  const where = `${describeWindow(o.window)}${o.version !== undefined ? `, version ${o.version}` : ""}`;
  const skippedText = skipped.length > 0 ? `, ${count(skipped.length)} files skipped` : "";
  if (files.length === 0) {
    await createEmptyWindow(connection, table, o.columns);
    return {
      table,
      rows: 0,
      columns: o.columns,
      description: `prediction log ${o.dir}, model ${o.model}, ${where}: no files${skippedText}`,
      kind: "log",
      skipped,
      versions: [],
    };
  }
  const source = `(${predictionLogSql(files, o.window?.from, o.window?.to)})`;
  // union_by_name: a column no file of the window has cannot be selected; it is absent.
  const described = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`);
  const available = described.getRowObjectsJson().map((row) => String(row.column_name));
  const present = o.columns.filter((column) => findColumn(available, column.name) !== undefined);
  const absent = o.columns.filter((column) => !present.includes(column));
  const sql = windowSql({
    time: "time",
    version: "version",
    id: "id",
    columns: present.map((column) => ({
      column,
      expr: sqlIdentifier(findColumn(available, column.name) ?? column.name),
    })),
    from: `${source} AS log`,
    where: o.version !== undefined ? [`version = ${sqlString(o.version)}`] : [],
  });
  const m = await materialize(connection, table, sql, o.maxRows);
  if (await mergedFilesReplaced(connection, listed)) return "replaced";
  return {
    table,
    rows: m.rows,
    columns: present,
    description:
      `prediction log ${o.dir}, model ${o.model}, ${where}: ${count(files.length)} files${describeRows(m)}${skippedText}` +
      (absent.length > 0 ? `; not logged: ${absent.map((c) => c.name).join(", ")}` : ""),
    kind: "log",
    skipped,
    versions: await versionsOf(connection, table),
  };
}
