/**
 * A window of a batch sink (what `mldeploy batch` writes) as a DuckDB table. The sink's
 * prediction table has: the --id-column, the --keep-columns, the --actual-column and `diff`
 * when one was given, predicted_<output>, model_name, model_version, run_id and scored_at.
 * Read from sqlite:, postgres:// (streamed, see sql-table.ts) or a Parquet/CSV file (DuckDB).
 */
import { UserError } from "../../../config/errors.js";
import { sqlIdentifier, sqlString } from "../../../duckdb/index.js";
import type { ActualsFrame, FrameColumn, WindowFrame } from "../types.js";
import {
  checkTableName,
  describeRows,
  describeWindow,
  findColumn,
  materialize,
  timestampSql,
  useUtc,
  versionsOf,
  windowSql,
  type SourceContext,
  type WindowBounds,
} from "./context.js";
import {
  describeSqlUrl,
  openSqlTable,
  sqlKindOf,
  stageSqlRows,
  type SqlCondition,
} from "./sql-table.js";
import { createActualsTable } from "./actuals.js";
import { describeFrom, fileReader } from "./files.js";

export interface BatchWindowOptions {
  table: string;
  /** sqlite:<path> | postgres://… | a .parquet / .csv file (or glob). */
  sink: string;
  /** The prediction table of a SQL sink (--current-table). */
  sinkTable?: string;
  /** The batch job's --id-column. */
  idColumn: string;
  model: string;
  /** The model's output: predictions are in predicted_<output>. */
  output: string;
  /** On scored_at. */
  window?: WindowBounds;
  version?: string;
  columns: FrameColumn[];
  /** The sink's actual-value column; default actual_<output> when the sink has it. */
  actualColumn?: string;
  /** Name of the actuals table to fill; default <table>_actuals. */
  actualsTable?: string;
  maxRows?: number;
}

const FLAG = "--current";
const TABLE_FLAG = "--current-table";

/** Columns every batch prediction table has (besides the id and the prediction). */
const PROVENANCE = ["model_name", "model_version", "scored_at"] as const;

function missingColumn(
  what: string,
  name: string,
  setting: string,
  available: string[],
): UserError {
  return new UserError(
    `${what} has no column ${name} (${setting}); it has: ${available.join(", ")}. Is it the prediction table that mldeploy batch wrote?`,
  );
}

export async function loadBatchWindow(
  ctx: SourceContext,
  o: BatchWindowOptions,
): Promise<{ frame: WindowFrame; actuals?: ActualsFrame }> {
  const table = checkTableName(o.table);
  const actualsTable = checkTableName(o.actualsTable ?? `${table}_actuals`);
  await useUtc(ctx.connection);
  const kind = sqlKindOf(o.sink);
  const what =
    kind === undefined
      ? `${FLAG} ${o.sink}`
      : `${FLAG} ${describeSqlUrl(o.sink)} ${TABLE_FLAG} ${o.sinkTable ?? "(none)"}`;

  // 1. The sink's rows as a DuckDB FROM body and its column names.
  let from: string;
  let available: string[];
  let staged: { names: string[]; staging: string } | undefined;
  const plan = (columns: string[]) => {
    const need = (name: string, setting: string): string => {
      const found = findColumn(columns, name);
      if (found === undefined) throw missingColumn(what, name, setting, columns);
      return found;
    };
    const id = need(o.idColumn, "the batch job's --id-column");
    const prediction = need(`predicted_${o.output}`, `the prediction of output ${o.output}`);
    const [modelName, modelVersion, scoredAt] = PROVENANCE.map((name) =>
      need(name, "written by every batch run"),
    );
    const actual =
      o.actualColumn !== undefined
        ? need(o.actualColumn, "the actual-value column")
        : findColumn(columns, `actual_${o.output}`);
    const inputs = o.columns
      .filter((c) => c.role === "input")
      .map((column) => ({ column, source: findColumn(columns, column.name) }))
      .filter((c): c is { column: FrameColumn; source: string } => c.source !== undefined);
    const predictionColumn = o.columns.find((c) => c.role === "prediction");
    return { id, prediction, modelName, modelVersion, scoredAt, actual, inputs, predictionColumn };
  };

  let p: ReturnType<typeof plan>;
  if (kind !== undefined) {
    if (o.sinkTable === undefined)
      throw new UserError(
        `${FLAG} ${describeSqlUrl(o.sink)}: name the prediction table with ${TABLE_FLAG}`,
      );
    const reader = await openSqlTable({
      url: o.sink,
      table: o.sinkTable,
      flag: FLAG,
      tableFlag: TABLE_FLAG,
    });
    try {
      available = reader.columns;
      p = plan(available);
      const names = [
        p.id,
        p.modelVersion,
        p.scoredAt,
        p.prediction,
        ...p.inputs.map((c) => c.source),
        ...(p.actual !== undefined ? [p.actual] : []),
      ];
      const where: SqlCondition[] = [{ column: p.modelName, equals: o.model }];
      if (o.version !== undefined) where.push({ column: p.modelVersion, equals: o.version });
      if (o.window) {
        where.push({ column: p.scoredAt, from: o.window.from });
        where.push({ column: p.scoredAt, before: o.window.to });
      }
      const staging = `${table}__staging`;
      await stageSqlRows(ctx, reader, names, where, staging);
      staged = { names, staging };
      from = sqlIdentifier(staging);
    } finally {
      await reader.close();
    }
  } else {
    from = await fileReader(o.sink, FLAG);
    available = await describeFrom(ctx, from, what);
    p = plan(available);
  }

  // 2. Expressions over those rows (staged SQL rows are c0, c1, … in `names` order).
  const ref = (name: string): string =>
    staged ? `c${staged.names.indexOf(name)}` : sqlIdentifier(name);
  const time = `CAST(${ref(p.scoredAt)} AS TIMESTAMPTZ)`;
  const where: string[] = [];
  if (!staged) {
    where.push(`CAST(${ref(p.modelName)} AS VARCHAR) = ${sqlString(o.model)}`);
    if (o.version !== undefined)
      where.push(`CAST(${ref(p.modelVersion)} AS VARCHAR) = ${sqlString(o.version)}`);
    if (o.window)
      where.push(
        `${time} >= ${timestampSql(o.window.from)}`,
        `${time} < ${timestampSql(o.window.to)}`,
      );
  }
  const mapped = [
    ...p.inputs.map((c) => ({ column: c.column, expr: ref(c.source) })),
    ...(p.predictionColumn ? [{ column: p.predictionColumn, expr: ref(p.prediction) }] : []),
  ];
  const sql = windowSql({
    time,
    version: ref(p.modelVersion),
    id: ref(p.id),
    columns: mapped,
    from: `${from} AS sink`,
    where,
  });
  try {
    const m = await materialize(
      ctx.connection,
      table,
      sql,
      o.maxRows,
      staged ? undefined : `${FLAG} ${o.sink}`,
    );
    const present = mapped.map((c) => c.column);
    const absent = o.columns.filter((c) => !present.includes(c));
    const frame: WindowFrame = {
      table,
      rows: m.rows,
      columns: present,
      description:
        `batch predictions ${kind === undefined ? o.sink : `${describeSqlUrl(o.sink)} table ${o.sinkTable}`}, model ${o.model}, ` +
        `scored ${describeWindow(o.window)}${o.version !== undefined ? `, version ${o.version}` : ""}${describeRows(m)}` +
        (absent.length > 0
          ? `; not kept by the batch job (--keep-columns): ${absent.map((c) => c.name).join(", ")}`
          : ""),
      kind: "batch",
      skipped: [],
      versions: await versionsOf(ctx.connection, table),
    };
    if (p.actual === undefined) return { frame };
    // 3. The truth the batch job copied next to each prediction (all rows of the window, not
    // only the sampled ones: the join by id picks what it needs).
    const actuals = await createActualsTable(ctx, {
      table: actualsTable,
      // One row per id and model version: the same truth repeated, the latest scored kept.
      sql: `SELECT ${ref(p.id)} AS id, ${ref(p.actual)} AS value, ${time} AS seq FROM ${from} AS sink${where.length ? ` WHERE ${where.join(" AND ")}` : ""}`,
      description: `actual values (${p.actual}) of the batch predictions`,
      repeatedIds: "expected",
    });
    return { frame, actuals };
  } finally {
    if (staged) await ctx.connection.run(`DROP TABLE IF EXISTS ${sqlIdentifier(staged.staging)}`);
  }
}
