/**
 * The reading side of the sinks, for `mldeploy monitor`: a window of a model's log, brought
 * into a local directory in the log's own layout (<dir>/<model>/<yyyy-mm-dd>/<hh>-….parquet,
 * the writer's footer metadata), so predictionLogFiles and predictionLogSql read it as they
 * read the local log.
 *   s3://     the parts whose hour overlaps the window are downloaded, nothing else is read;
 *   postgres  the window's rows are exported through a server-side cursor, 10,000 rows a
 *             FETCH, into one Parquet file per model version and hour (at most 200,000 rows a
 *             file): memory stays bounded whatever the window holds.
 */
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { DuckDBAppender, DuckDBConnection } from "@duckdb/node-api";
import { DuckDBTimestampValue } from "@duckdb/node-api";
import pg from "pg";
import { closeDuckDB, openDuckDB } from "../../../duckdb/instance.js";
import { sqlIdentifier, sqlString } from "../../../duckdb/sql.js";
import type { Logger } from "../../../log/logger.js";
import { mapLimit } from "../../../registry/artifacts/limit.js";
import { artifactStoreFor } from "../../../registry/artifacts/open.js";
import { joinArtifactUri } from "../../../registry/artifacts/uri.js";
import { META, PART_SUFFIX, PREDICTION_LOG_FORMAT_VERSION, modelDirName } from "../schema.js";
import { partsTable, qualified, quote, type FooterColumn } from "./postgres-table.js";
import { displayTable, parseSinkUrl, type SinkTarget } from "./url.js";

export interface LogWindowQuery {
  model: string;
  /** Window start (inclusive) and end (exclusive); absent = unbounded. */
  from?: Date;
  to?: Date;
  /** Only this model version (PostgreSQL; from S3 every version's parts come, see README). */
  version?: string;
}

export interface MaterializedWindow {
  /** A log root: pass it as PredictionLogQuery.dir. */
  dir: string;
  files: number;
  /** Rows written (PostgreSQL; S3 parts are copied without being read). */
  rows?: number;
}

const HOUR_MS = 3_600_000;
const FETCH_ROWS = 10_000;
const ROWS_PER_FILE = 200_000;

/** The window's part files of `url` (s3:// or postgres://) under `tempDir`. */
export async function materializeLogWindow(
  url: string,
  query: LogWindowQuery,
  tempDir: string,
  logger: Logger,
): Promise<MaterializedWindow> {
  const target = parseSinkUrl(url, "prediction log URL");
  const dir = path.resolve(tempDir);
  await mkdir(dir, { recursive: true });
  return target.kind === "s3"
    ? fromS3(target.uri, query, dir, logger)
    : fromPostgres(target, query, dir, logger);
}

/** Whether the hour starting at `start` (ms) overlaps [from, to). */
function hourOverlaps(start: number, query: LogWindowQuery): boolean {
  if (query.from && start + HOUR_MS <= query.from.getTime()) return false;
  if (query.to && start >= query.to.getTime()) return false;
  return true;
}

/** The days the window touches, or undefined for "list them all" (unbounded or over 62 days). */
function windowDays(query: LogWindowQuery): string[] | undefined {
  if (!query.from || !query.to) return undefined;
  const first = Math.floor(query.from.getTime() / 86_400_000);
  const last = Math.floor((query.to.getTime() - 1) / 86_400_000);
  if (last - first > 62) return undefined;
  const days: string[] = [];
  for (let day = first; day <= last; day++)
    days.push(new Date(day * 86_400_000).toISOString().slice(0, 10));
  return days;
}

async function fromS3(
  root: string,
  query: LogWindowQuery,
  dir: string,
  logger: Logger,
): Promise<MaterializedWindow> {
  const store = artifactStoreFor(root);
  const model = modelDirName(query.model);
  const modelUri = joinArtifactUri(root, model);
  // Keys relative to the model's prefix: <yyyy-mm-dd>/<hh>-….parquet.
  const keys: string[] = [];
  const days = windowDays(query);
  if (days === undefined) {
    for (const entry of await store.list(modelUri)) keys.push(entry.path);
  } else {
    for (const day of days)
      for (const entry of await store.list(joinArtifactUri(modelUri, day)))
        keys.push(`${day}/${entry.path}`);
  }
  const wanted = keys.filter((key) => {
    const match = /^(\d{4}-\d{2}-\d{2})\/(\d{2})-[^/]*$/.exec(key);
    if (!match || !key.endsWith(PART_SUFFIX)) return false;
    return hourOverlaps(new Date(`${match[1]}T${match[2]}:00:00Z`).getTime(), query);
  });
  await mapLimit(wanted, 4, (key) =>
    store.downloadFile(joinArtifactUri(modelUri, key), path.join(dir, model, ...key.split("/"))),
  );
  logger.info(
    { files: wanted.length, source: modelUri, dir },
    `prediction log: downloaded ${wanted.length} part${wanted.length === 1 ? "" : "s"} of ${query.model} from ${modelUri}`,
  );
  return { dir, files: wanted.length };
}

interface VersionColumns {
  version: string;
  inputs: FooterColumn[];
  outputs: FooterColumn[];
}

async function fromPostgres(
  target: Extract<SinkTarget, { kind: "postgres" }>,
  query: LogWindowQuery,
  dir: string,
  logger: Logger,
): Promise<MaterializedWindow> {
  const client = new pg.Client({
    connectionString: target.connection,
    connectionTimeoutMillis: 10_000,
  });
  client.on("error", () => undefined);
  await client.connect();
  const engine = await openDuckDB({ memoryLimit: "256MB", threads: 1 });
  try {
    const exists = await client.query<{ table: string | null; parts: string | null }>(
      "SELECT to_regclass($1)::text AS table, to_regclass($2)::text AS parts",
      [qualified(target.table), qualified(partsTable(target.table))],
    );
    if (exists.rows[0].table === null || exists.rows[0].parts === null) {
      logger.warn(
        { target: target.description },
        `prediction log: ${target.description} does not exist yet: no predictions`,
      );
      return { dir, files: 0, rows: 0 };
    }
    // The columns of each version, as its latest part said (the footer the writer wrote).
    const versions = await client.query<{ version: string; inputs: string; outputs: string }>(
      `SELECT DISTINCT ON (version) version, inputs, outputs FROM ${qualified(partsTable(target.table))}
        WHERE model = $1 AND ($2::text IS NULL OR version = $2)
        ORDER BY version, published_at DESC`,
      [query.model, query.version ?? null],
    );
    let files = 0;
    let rows = 0;
    for (const row of versions.rows) {
      const columns: VersionColumns = {
        version: row.version,
        inputs: JSON.parse(row.inputs) as FooterColumn[],
        outputs: JSON.parse(row.outputs) as FooterColumn[],
      };
      const written = await exportVersion(client, engine.connection, target, query, columns, dir);
      files += written.files;
      rows += written.rows;
    }
    logger.info(
      { files, rows, source: target.description, dir },
      `prediction log: exported ${rows} predictions of ${query.model} from ${target.description} into ${files} part files`,
    );
    return { dir, files, rows };
  } finally {
    await client.end().catch(() => undefined);
    await closeDuckDB(Promise.resolve(engine));
  }
}

async function exportVersion(
  client: pg.Client,
  duck: DuckDBConnection,
  target: Extract<SinkTarget, { kind: "postgres" }>,
  query: LogWindowQuery,
  columns: VersionColumns,
  dir: string,
): Promise<{ files: number; rows: number }> {
  const model = [...columns.inputs, ...columns.outputs];
  const literal = (value: string) => client.escapeLiteral(value);
  const where = [
    `model = ${literal(query.model)}`,
    `version = ${literal(columns.version)}`,
    query.from && `"time" >= ${literal(query.from.toISOString())}::timestamptz`,
    query.to && `"time" < ${literal(query.to.toISOString())}::timestamptz`,
  ].filter(Boolean);
  // Microseconds since the epoch, and 64-bit integers, as text: exact.
  const select = [
    `(extract(epoch FROM "time") * 1000000)::bigint::text`,
    "model",
    "version",
    "mode",
    "id",
    ...model.map((c) => (c.type === "BIGINT" ? `${quote(c.name)}::text` : quote(c.name))),
  ].join(", ");
  await duck.run(
    `CREATE OR REPLACE TABLE staging ("time" TIMESTAMP, model VARCHAR, version VARCHAR, mode VARCHAR, id VARCHAR${model
      .map((c) => `, ${sqlIdentifier(c.name)} ${c.type}`)
      .join("")})`,
  );
  const metadata = Object.entries({
    [META.format]: String(PREDICTION_LOG_FORMAT_VERSION),
    [META.model]: query.model,
    [META.version]: columns.version,
    [META.inputs]: JSON.stringify(columns.inputs),
    [META.outputs]: JSON.stringify(columns.outputs),
  })
    .map(([key, value]) => `${sqlIdentifier(key)}: ${sqlString(value)}`)
    .join(", ");
  let files = 0;
  let rows = 0;
  let staged = 0;
  let stagedHour: number | undefined;
  let appender: DuckDBAppender | undefined;
  const writeStaged = async () => {
    if (appender) {
      appender.closeSync();
      appender = undefined;
    }
    if (staged === 0 || stagedHour === undefined) return;
    const iso = new Date(stagedHour * HOUR_MS).toISOString();
    const folder = path.join(dir, modelDirName(query.model), iso.slice(0, 10));
    await mkdir(folder, { recursive: true });
    const file = path.join(
      folder,
      `${iso.slice(11, 13)}-postgres-${String(++files).padStart(6, "0")}-${safeName(columns.version)}${PART_SUFFIX}`,
    );
    await duck.run(
      `COPY (SELECT * FROM staging ORDER BY "time") TO ${sqlString(file)} (FORMAT parquet, KV_METADATA {${metadata}})`,
    );
    await duck.run("DELETE FROM staging");
    rows += staged;
    staged = 0;
  };
  await client.query("BEGIN READ ONLY");
  try {
    await client.query(
      `DECLARE window_rows NO SCROLL CURSOR FOR SELECT ${select} FROM ${qualified(target.table)}
        WHERE ${where.join(" AND ")} ORDER BY "time"`,
    );
    for (;;) {
      const fetched = await client.query<unknown[]>({
        text: `FETCH ${FETCH_ROWS} FROM window_rows`,
        rowMode: "array",
      });
      if (fetched.rows.length === 0) break;
      for (const values of fetched.rows) {
        const micros = BigInt(values[0] as string);
        const hour = Number(micros / 3_600_000_000n);
        if (hour !== stagedHour || staged >= ROWS_PER_FILE) {
          await writeStaged();
          stagedHour = hour;
        }
        appender ??= await duck.createAppender("staging");
        appender.appendTimestamp(new DuckDBTimestampValue(micros));
        for (let i = 1; i < 5; i++) appendText(appender, values[i]);
        for (let i = 0; i < model.length; i++) append(appender, model[i].type, values[5 + i]);
        appender.endRow();
        staged++;
      }
    }
    await writeStaged();
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw new Error(
      `could not export the prediction log of ${query.model} from ${displayTable(target.table)} (${target.description}): ${(error as Error).message}`,
      { cause: error },
    );
  } finally {
    appender?.closeSync();
    await duck.run("DROP TABLE IF EXISTS staging");
  }
  return { files, rows };
}

function appendText(appender: DuckDBAppender, value: unknown): void {
  if (value === null || value === undefined) appender.appendNull();
  else appender.appendVarchar(String(value));
}

function append(appender: DuckDBAppender, type: FooterColumn["type"], value: unknown): void {
  if (value === null || value === undefined) return appender.appendNull();
  switch (type) {
    case "BIGINT":
      return appender.appendBigInt(BigInt(value as string));
    case "INTEGER":
      return appender.appendInteger(Number(value));
    case "DOUBLE":
      return appender.appendDouble(Number(value));
    case "FLOAT":
      return appender.appendFloat(Number(value));
    case "BOOLEAN":
      return appender.appendBoolean(value === true);
    default:
      return appender.appendVarchar(String(value));
  }
}

/** A model version as part of a file name. */
function safeName(version: string): string {
  return version.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 40);
}
