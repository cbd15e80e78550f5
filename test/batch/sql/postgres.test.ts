import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { openSqlSink, openSqlSource } from "../../../src/batch/sql/index.js";
import {
  NO_POSTGRES,
  PG_URL,
  postgresReachable,
  TestSchemas,
} from "../../registry/store/helpers.js";
import { describeSqlContract } from "./contract.js";

const HAS_POSTGRES = await postgresReachable();
const schemas = new TestSchemas();
afterAll(() => schemas.drop());

describe.skipIf(!HAS_POSTGRES)(HAS_POSTGRES ? "PostgreSQL" : `PostgreSQL — ${NO_POSTGRES}`, () => {
  describeSqlContract("PostgreSQL", async () => {
    const schema = schemas.next();
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`CREATE SCHEMA "${schema}"`);
    return {
      url: PG_URL,
      table: (name) => `${schema}.${name}`,
      exec: async (sql) => void (await client.query(sql)),
      query: async (sql) => (await client.query(sql)).rows as Record<string, unknown>[],
      insert: async (table, columns, rows) => {
        const values = rows.flatMap((row) => row);
        const tuples = rows.map(
          (row, r) => `(${row.map((_, c) => `$${r * row.length + c + 1}`).join(", ")})`,
        );
        await client.query(
          `INSERT INTO ${table} (${columns.map((c) => `"${c}"`).join(", ")}) VALUES ${tuples.join(", ")}`,
          values,
        );
      },
      timestampType: "timestamp",
      otherTimestampTypes: ["timestamptz"],
      datesAsDate: true,
      refuseCheckpoint: (table, jobId, trigger) => ({
        create: [
          `CREATE FUNCTION "${schema}".${trigger}() RETURNS trigger LANGUAGE plpgsql AS ` +
            `$$ BEGIN RAISE EXCEPTION 'checkpoint refused'; END $$`,
          `CREATE TRIGGER ${trigger} BEFORE INSERT OR UPDATE ON ${table} FOR EACH ROW ` +
            `WHEN (NEW.job_id = '${jobId}') EXECUTE FUNCTION "${schema}".${trigger}()`,
        ],
        drop: [
          `DROP TRIGGER IF EXISTS ${trigger} ON ${table}`,
          `DROP FUNCTION IF EXISTS "${schema}".${trigger}()`,
        ],
      }),
      close: () => client.end(),
    };
  });

  describe("PostgreSQL source and sink descriptions", () => {
    it("never contain the password", async () => {
      const url = new URL(PG_URL);
      url.password = "s3cret-not-needed";
      const schema = schemas.next();
      const admin = new pg.Client({ connectionString: PG_URL });
      await admin.connect();
      await admin.query(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".t (id INTEGER)`);
      await admin.end();
      const source = await openSqlSource(url.toString(), { table: `${schema}.t` });
      const sink = await openSqlSink(url.toString(), { table: `${schema}.p` });
      for (const { description } of [source, sink]) {
        expect(description).not.toContain("s3cret");
        expect(description).toContain(`${schema}.`);
      }
      await Promise.all([source.close(), sink.close()]);
    });
  });
});
