import pg from "pg";
import { postgresDialect } from "./dialect.js";
import { describeUrl, endPool, openPool, postgresError } from "./postgres-connection.js";
import { relation, type SourceSpec } from "./select.js";
import { SqlSource, type SourceDriver } from "./sql-source.js";

type Parse = (text: string) => unknown;

const OID = { int2: 21, int4: 23, int8: 20, oid: 26, float4: 700, float8: 701 } as const;

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

/** Parser for a data column: pg's own (Date for timestamps), except BIGINT as above. */
function valueParser(oid: number): Parse {
  return oid === OID.int8 ? parseInt8 : (pg.types.getTypeParser(oid, "text") as Parse);
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

  async select(sql: string, values: readonly unknown[], keys: number): Promise<unknown[][]> {
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
    return result.rows;
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
