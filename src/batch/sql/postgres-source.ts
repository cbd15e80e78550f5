import pg from "pg";
import { postgresDialect } from "./dialect.js";
import { describeUrl, endPool, openPool, postgresError } from "./postgres-connection.js";
import { relation, type SourceSpec } from "./select.js";
import { SqlSource, type SelectResult, type SourceDriver } from "./sql-source.js";

type Parse = (text: string) => unknown;

const OID = {
  int2: 21,
  int4: 23,
  int8: 20,
  oid: 26,
  float4: 700,
  float8: 701,
  timestamp: 1114,
  timestamptz: 1184,
} as const;

const INTEGER_OIDS = new Set<number>([OID.int2, OID.int4, OID.int8]);

/** BIGINT as a number when exact, else as its decimal text (pg's default is always text). */
export function parseInt8(text: string): number | string {
  const number = Number(text);
  return Number.isSafeInteger(number) ? number : text;
}

const identity: Parse = (text) => text;

/**
 * Parser for a keyset column: numbers that JS holds exactly become numbers; everything else
 * (timestamps with microseconds, NUMERIC, text, uuid) stays the database's own text, which
 * binds back as the column's type and compares exactly. A Date would truncate to
 * milliseconds, and resuming after a truncated timestamp skips or repeats rows.
 */
function keyParser(oid: number): Parse {
  switch (oid) {
    case OID.int2:
    case OID.int4:
    case OID.oid:
    case OID.float4:
    case OID.float8:
      // float4/float8 text output is the shortest exact form since PostgreSQL 12.
      return Number;
    case OID.int8:
      return parseInt8;
    default:
      return identity;
  }
}

const isDigit = (text: string, at: number): boolean => {
  const code = text.charCodeAt(at);
  return code >= 48 && code <= 57;
};
const two = (text: string, at: number): number =>
  (text.charCodeAt(at) - 48) * 10 + text.charCodeAt(at + 1) - 48;

/** Where `YYYY-MM-DD HH:MM:SS` has digits; the other positions hold - - space : :. */
const DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];

/**
 * Fields of an ISO `YYYY-MM-DD HH:MM:SS[.ffffff]` prefix as pg's own parser (postgres-date)
 * reads them (year, month - 1, day, hours, minutes, seconds, milliseconds), then where the
 * prefix ends; undefined when the text has another shape (years before 100, 5-digit years,
 * BC, infinity, another DateStyle): those go to pg's parser.
 */
function isoFields(text: string): number[] | undefined {
  if (
    text.length < 19 ||
    text.charCodeAt(4) !== 45 || // -
    text.charCodeAt(7) !== 45 ||
    text.charCodeAt(10) !== 32 || // space
    text.charCodeAt(13) !== 58 || // :
    text.charCodeAt(16) !== 58
  ) {
    return undefined;
  }
  for (const at of DIGITS) if (!isDigit(text, at)) return undefined;
  const year = two(text, 0) * 100 + two(text, 2);
  // Years 0-99 need postgres-date's setFullYear correction: left to it.
  if (year < 100) return undefined;
  let end = 19;
  let ms = 0;
  if (text.charCodeAt(19) === 46) {
    // .ffffff, computed as postgres-date does (1000 * parseFloat) so the Date is the same.
    end = 20;
    while (isDigit(text, end)) end++;
    if (end === 20) return undefined;
    ms = 1000 * parseFloat(text.slice(19, end));
  }
  return [
    year,
    two(text, 5) - 1,
    two(text, 8),
    two(text, 11),
    two(text, 14),
    two(text, 17),
    ms,
    end,
  ];
}

/** TIMESTAMP (no time zone) as pg parses it: a Date in local time; same result, no regex. */
export function parseTimestamp(text: string): unknown {
  const f = isoFields(text);
  if (f === undefined || f[7] !== text.length) return pgParseTimestamp(text);
  return new Date(f[0], f[1], f[2], f[3], f[4], f[5], f[6]);
}

/** TIMESTAMPTZ as pg parses it: the instant, with the `+HH` or `+HH:MM` offset applied. */
export function parseTimestamptz(text: string): unknown {
  const f = isoFields(text);
  const at = f?.[7] ?? 0;
  const sign = text.charCodeAt(at) === 43 ? 1 : text.charCodeAt(at) === 45 ? -1 : 0;
  let seconds = 0;
  if (f === undefined || sign === 0) return pgParseTimestamptz(text);
  if (text.length === at + 3) seconds = two(text, at + 1) * 3600;
  else if (text.length === at + 6 && text.charCodeAt(at + 3) === 58) {
    seconds = two(text, at + 1) * 3600 + two(text, at + 4) * 60;
  } else return pgParseTimestamptz(text);
  if (!(seconds >= 0 && seconds < 100 * 3600)) return pgParseTimestamptz(text);
  return new Date(Date.UTC(f[0], f[1], f[2], f[3], f[4], f[5], f[6]) - sign * seconds * 1000);
}

const pgParseTimestamp = pg.types.getTypeParser(OID.timestamp, "text") as Parse;
const pgParseTimestamptz = pg.types.getTypeParser(OID.timestamptz, "text") as Parse;

/**
 * Parser for a data column: pg's own (Date for timestamps), except BIGINT as above and
 * timestamps, whose common ISO shape is read without pg's regular expressions (the same Date).
 */
function valueParser(oid: number): Parse {
  switch (oid) {
    case OID.int8:
      return parseInt8;
    case OID.timestamp:
      return parseTimestamp;
    case OID.timestamptz:
      return parseTimestamptz;
    default:
      return pg.types.getTypeParser(oid, "text") as Parse;
  }
}

/** Every column comes back as raw text; parsers are chosen per column, not per type. */
const RAW_TEXT: pg.CustomTypesConfig = {
  getTypeParser: (() => identity) as pg.CustomTypesConfig["getTypeParser"],
};

class PostgresSourceDriver implements SourceDriver {
  readonly dialect = postgresDialect;

  constructor(
    private readonly pool: pg.Pool,
    private readonly description: string,
  ) {}

  async select(sql: string, values: readonly unknown[], keys: number): Promise<SelectResult> {
    let result: pg.QueryArrayResult<unknown[]>;
    try {
      result = await this.pool.query({
        text: sql,
        values: [...values],
        rowMode: "array",
        types: RAW_TEXT,
      });
    } catch (error) {
      throw postgresError(error, this.description);
    }
    const parsers = result.fields.map((field, i) =>
      i < keys ? keyParser(field.dataTypeID) : valueParser(field.dataTypeID),
    );
    for (const row of result.rows) {
      for (let i = 0; i < row.length; i++) {
        const raw = row[i];
        if (typeof raw === "string") row[i] = parsers[i](raw);
      }
    }
    const integer = result.fields.map((field) => INTEGER_OIDS.has(field.dataTypeID));
    return { rows: result.rows, integer };
  }

  close(): Promise<void> {
    return endPool(this.pool);
  }
}

/** Connects to PostgreSQL as a source and checks that the table or query can be read. */
export async function openPostgresSource(url: string, spec: SourceSpec): Promise<SqlSource> {
  const from = relation(spec);
  const description = `${describeUrl(url)} (${spec.table !== undefined ? `table ${spec.table}` : "query"})`;
  const driver = new PostgresSourceDriver(await openPool(url, description), description);
  try {
    await driver.select(`SELECT * FROM ${from} AS src LIMIT 0`, [], 0);
  } catch (error) {
    await driver.close();
    throw error;
  }
  return new SqlSource(driver, from, description);
}
