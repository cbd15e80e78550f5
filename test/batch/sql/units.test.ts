import { describe, expect, it } from "vitest";
import { UserError } from "../../../src/config/errors.js";
import { decodeCheckpoint, encodeKey } from "../../../src/batch/sql/checkpoint-codec.js";
import { postgresDialect, sqliteDialect } from "../../../src/batch/sql/dialect.js";
import { columnName, qualified, tableName } from "../../../src/batch/sql/identifiers.js";
import pg from "pg";
import {
  parseInt8,
  parseTimestamp,
  parseTimestamptz,
} from "../../../src/batch/sql/postgres-source.js";
import { binaryArray, textArray, unnestUpsert } from "../../../src/batch/sql/postgres-sink.js";
import type { Upsert } from "../../../src/batch/sql/sql-sink.js";
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
    const upsert: Upsert = {
      table: { schema: "s", name: "p" },
      key: ["id", "v"],
      rows: 2,
      columns: [
        { name: "id", type: "text", each: ["a", 'b"\\'] },
        { name: "v", type: "text", all: "3" },
        { name: "y", type: "double precision", each: [0.5, null] },
      ],
    };
    const { sql, values } = unnestUpsert(upsert);
    expect(sql).toBe(
      'INSERT INTO "s"."p" ("id", "v", "y") SELECT unnest($1::text[]), $2::text, ' +
        'unnest($3::double precision[]) ON CONFLICT ("id", "v") DO UPDATE SET "y" = excluded."y"',
    );
    // Text arrays as pg itself would format them; numbers as a binary float8[].
    expect(values.slice(0, 2)).toEqual(['{"a","b\\"\\\\"}', "3"]);
    expect(values[2]).toBeInstanceOf(Buffer);
    expect(unnestUpsert(upsert, false).sql).toBe(
      'INSERT INTO "s"."p" ("id", "v", "y") SELECT unnest($1::text[]), $2::text, ' +
        "unnest($3::double precision[])",
    );
  });

  it("sends BIGINT, DOUBLE PRECISION and TIMESTAMPTZ arrays in PostgreSQL's binary format", () => {
    const header = (dims: number, nulls: number, oid: number, n?: number) => {
      const b = Buffer.alloc(n === undefined ? 12 : 20);
      b.writeInt32BE(dims, 0);
      b.writeInt32BE(nulls, 4);
      b.writeInt32BE(oid, 8);
      if (n !== undefined) {
        b.writeInt32BE(n, 12);
        b.writeInt32BE(1, 16);
      }
      return b;
    };
    const int8 = (value: bigint) => {
      const b = Buffer.alloc(12);
      b.writeInt32BE(8, 0);
      b.writeBigInt64BE(value, 4);
      return b;
    };
    const NULL = Buffer.from([0xff, 0xff, 0xff, 0xff]);
    expect(binaryArray("bigint", [1, null, -2, 2 ** 53 - 1])).toEqual(
      Buffer.concat([header(1, 1, 20, 4), int8(1n), NULL, int8(-2n), int8(2n ** 53n - 1n)]),
    );
    expect(binaryArray("bigint", [])).toEqual(header(0, 0, 20));
    const float8 = Buffer.alloc(12);
    float8.writeInt32BE(8, 0);
    float8.writeDoubleBE(-0.1, 4);
    expect(binaryArray("double precision", [-0.1])).toEqual(
      Buffer.concat([header(1, 0, 701, 1), float8]),
    );
    // Microseconds since 2000-01-01 UTC.
    expect(binaryArray("timestamp with time zone", [new Date("1999-12-31T23:59:59.999Z")])).toEqual(
      Buffer.concat([header(1, 0, 1184, 1), int8(-1000n)]),
    );
    // Anything else is left to the text path.
    expect(binaryArray("bigint", [1.5])).toBeUndefined();
    expect(binaryArray("bigint", ["9007199254740993"])).toBeUndefined();
    expect(binaryArray("double precision", ["1"])).toBeUndefined();
    expect(binaryArray("timestamp with time zone", ["2024-01-01"])).toBeUndefined();
    expect(binaryArray("timestamp with time zone", [new Date(NaN)])).toBeUndefined();
    expect(binaryArray("timestamp without time zone", [new Date()])).toBeUndefined();
    expect(binaryArray("integer", [1])).toBeUndefined();
    expect(textArray([1, true, null, "x,y"])).toBe('{"1","true",NULL,"x,y"}');
    expect(textArray([new Date()])).toBeUndefined();
  });

  it("parses PostgreSQL timestamps to the same Date as pg", () => {
    const pgTimestamp = pg.types.getTypeParser(1114, "text") as (text: string) => unknown;
    const pgTimestamptz = pg.types.getTypeParser(1184, "text") as (text: string) => unknown;
    const same = (text: string) => {
      expect(parseTimestamp(text), text).toStrictEqual(pgTimestamp(text));
      expect(parseTimestamptz(text), text).toStrictEqual(pgTimestamptz(text));
    };
    for (const text of [
      "2021-01-01 00:00:02",
      "2024-02-29 23:59:59.999999",
      "2024-03-10 02:30:00.5",
      "1970-01-01 00:00:00.000001",
      "0099-01-01 00:00:00",
      "12345-01-01 00:00:00",
      "2020-01-01 00:00:00 BC",
      "infinity",
      "-infinity",
      "2024-06-01",
      "2024-06-01T10:00:00",
      "2024-06-01 10:00:00+00",
      "2024-06-01 10:00:00.123+05:30",
      "2024-06-01 10:00:00-03",
      "1900-06-01 10:00:00+00:53:28",
      "2024-06-01 10:00:00.123456-09:30",
    ]) {
      same(text);
    }
    // Random instants, with and without fractions and offsets.
    let seed = 42;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const pad = (n: number, width = 2) => String(n).padStart(width, "0");
    for (let i = 0; i < 500; i++) {
      const d = new Date(Date.UTC(1800 + Math.floor(random() * 400), 0, 1) + random() * 3e10);
      const fraction =
        random() < 0.5
          ? ""
          : `.${String(Math.floor(random() * 1e6)).slice(0, 1 + Math.floor(random() * 6))}`;
      const base =
        `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
        `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${fraction}`;
      const offset = Math.floor(random() * 27) - 13;
      same(base);
      same(`${base}${offset < 0 ? "-" : "+"}${pad(Math.abs(offset))}`);
      same(
        `${base}${offset < 0 ? "-" : "+"}${pad(Math.abs(offset))}:${random() < 0.5 ? "30" : "45"}`,
      );
    }
  });

  it("parses sqlite: URLs", () => {
    expect(sqliteFile("sqlite:///tmp/a.db")).toBe("/tmp/a.db");
    expect(sqliteFile("sqlite:/tmp/a.db")).toBe("/tmp/a.db");
    expect(sqliteFile("sqlite:a.db")).toBe(`${process.cwd()}/a.db`);
    expect(() => sqliteFile("sqlite:")).toThrow(UserError);
  });
});
