import { describe, expect, it } from "vitest";
import { UserError } from "../../../src/config/errors.js";
import { decodeCheckpoint, encodeKey } from "../../../src/batch/sql/checkpoint-codec.js";
import { postgresDialect, sqliteDialect } from "../../../src/batch/sql/dialect.js";
import { columnName, qualified, tableName } from "../../../src/batch/sql/identifiers.js";
import { parseInt8 } from "../../../src/batch/sql/postgres-source.js";
import { unnestUpsert } from "../../../src/batch/sql/postgres-sink.js";
import { chunkStatement, checkQuery, planRead, relation } from "../../../src/batch/sql/select.js";
import { inferKind } from "../../../src/batch/sql/sink-tables.js";
import { sinkTable } from "../../../src/batch/sql/sql-sink.js";
import { sqliteFile } from "../../../src/batch/sql/sqlite-connection.js";
import { fnv1a32, sqlitePartitionOf } from "../../../src/batch/sql/sqlite-source.js";

describe("SQL identifiers", () => {
  it("accepts plain and schema-qualified names and quotes them", () => {
    expect(qualified(tableName("rides", "--table"))).toBe('"rides"');
    expect(qualified(tableName("nyc.Rides_2024", "--table"))).toBe('"nyc"."Rides_2024"');
    expect(columnName("PULocationID", "--keep-columns")).toBe("PULocationID");
  });

  it("refuses anything else, naming the flag and the value", () => {
    for (const bad of [
      "rides; drop table x",
      '"x"',
      "a.b.c",
      "",
      "1abc",
      "a b",
      "x".repeat(64),
      "é",
    ]) {
      expect(() => tableName(bad, "--table"), bad).toThrow(UserError);
    }
    expect(() => columnName("a--", "--id-column")).toThrow(/--id-column "a--"/);
    expect(() => sinkTable("x".repeat(56))).toThrow(/--sink-table/);
    expect(sinkTable("x".repeat(55)).name).toHaveLength(55);
  });
});

describe("SQL source statements", () => {
  const plan = planRead({ idColumn: "id", sinceColumn: "at", columns: ["a"] });

  it("builds one keyset query per chunk, with bind parameters only", () => {
    const first = chunkStatement(postgresDialect, relation({ table: "s.t" }), plan, {
      chunkSize: 10,
    });
    expect(first.sql).toBe(
      'SELECT src."at", src."id", src."a" FROM "s"."t" AS src WHERE src."at" IS NOT NULL AND ' +
        'src."id" IS NOT NULL ORDER BY src."at", src."id" LIMIT $1',
    );
    const next = chunkStatement(sqliteDialect, '"t"', plan, {
      chunkSize: 10,
      after: { since: "x'); drop", id: 5 },
      partition: { index: 1, count: 4 },
    });
    expect(next.sql).toContain(
      'AND (src."at", src."id") > (?, ?) AND mldeploy_partition(src."id", ?) = ?',
    );
    expect(next.values).toEqual(["x'); drop", 5, 4, 1, 10]);
  });

  it("refuses a checkpoint that does not match the keyset, and bad chunk sizes and partitions", () => {
    const run = (options: Parameters<typeof chunkStatement>[3]) => () =>
      chunkStatement(sqliteDialect, '"t"', plan, options);
    expect(run({ chunkSize: 10, after: { id: 1 } })).toThrow(/--from-start/);
    expect(run({ chunkSize: 0 })).toThrow(/--chunk-size/);
    expect(run({ chunkSize: 1, partition: { index: 4, count: 4 } })).toThrow(/--partition/);
  });

  it("validates custom queries lightly", () => {
    expect(checkQuery("  select 1 ;  ")).toBe("select 1");
    expect(checkQuery("WITH x AS (SELECT 1) SELECT * FROM x")).toContain("WITH");
    expect(() => checkQuery("select 1; select 2")).toThrow(/--query/);
    expect(() => checkQuery("delete from t")).toThrow(/--query/);
    // The comment cannot swallow the closing parenthesis.
    expect(relation({ query: "select 1 -- note" })).toBe("(\nselect 1 -- note\n)");
  });
});

describe("SQL helpers", () => {
  it("hashes ids with FNV-1a (32 bit) for SQLite partitions", () => {
    expect(fnv1a32("")).toBe(0x811c9dc5);
    expect(fnv1a32("a")).toBe(0xe40c292c);
    expect(fnv1a32("foobar")).toBe(0xbf9cf968);
    expect(sqlitePartitionOf(123n, 4)).toBe(sqlitePartitionOf(123, 4));
    expect(sqlitePartitionOf(null, 4)).toBeNull();
  });

  it("keeps BIGINTs exact", () => {
    expect(parseInt8("42")).toBe(42);
    expect(parseInt8("9007199254740993")).toBe("9007199254740993");
  });

  it("stores checkpoint keys as JSON so their types round-trip", () => {
    expect(decodeCheckpoint(encodeKey("2024-01-01 00:00:00.000001"), encodeKey(7))).toStrictEqual({
      since: "2024-01-01 00:00:00.000001",
      id: 7,
    });
    expect(decodeCheckpoint(null, encodeKey("7"))).toStrictEqual({ id: "7" });
  });

  it("infers sink column kinds from values", () => {
    expect(inferKind([1, 2, null], true)).toBe("bigint");
    expect(inferKind([1, 2])).toBe("double");
    expect(inferKind([1, "a"])).toBe("text");
    expect(inferKind([new Date()])).toBe("timestamp");
    expect(inferKind([true])).toBe("boolean");
    expect(inferKind([null])).toBe("text");
  });

  it("upserts on PostgreSQL with one array parameter per column", () => {
    const { sql, values } = unnestUpsert({
      table: { schema: "s", name: "p" },
      key: ["id", "v"],
      rows: 2,
      columns: [
        { name: "id", type: "bigint", each: [1, 2] },
        { name: "v", type: "text", all: "3" },
        { name: "y", type: "double precision", each: [0.5, 1.5] },
      ],
    });
    expect(sql).toBe(
      'INSERT INTO "s"."p" ("id", "v", "y") SELECT u.c0, $2::text, u.c1 FROM unnest($1::bigint[], ' +
        '$3::double precision[]) AS u(c0, c1) ON CONFLICT ("id", "v") DO UPDATE SET "y" = excluded."y"',
    );
    expect(values).toEqual([[1, 2], "3", [0.5, 1.5]]);
  });

  it("parses sqlite: URLs", () => {
    expect(sqliteFile("sqlite:///tmp/a.db")).toBe("/tmp/a.db");
    expect(sqliteFile("sqlite:/tmp/a.db")).toBe("/tmp/a.db");
    expect(sqliteFile("sqlite:a.db")).toBe(`${process.cwd()}/a.db`);
    expect(() => sqliteFile("sqlite:")).toThrow(UserError);
  });
});
