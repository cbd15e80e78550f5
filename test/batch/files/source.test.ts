import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { Checkpoint, KeyValue, ReadOptions, SourceChunk } from "../../../src/batch/types.js";
import { FileBatchSource } from "../../../src/batch/files/index.js";
import { NumericColumn, materialize, valueAt } from "../../../src/batch/columns.js";
import { sqlString, withDuckDB } from "../../../src/duckdb/index.js";
import { writeSampleTrips } from "../../../src/train/sample-data.js";
import { tempDir } from "../../helpers/temp.js";

const MONTH_ROWS = 3_000;

async function sql(...statements: string[]): Promise<void> {
  await withDuckDB(async (connection) => {
    for (const statement of statements) await connection.run(statement);
  });
}

async function readAll(source: FileBatchSource, options: ReadOptions): Promise<SourceChunk[]> {
  const chunks: SourceChunk[] = [];
  for await (const chunk of source.read(options)) chunks.push(chunk);
  return chunks;
}

function lastKey(chunk: SourceChunk): Checkpoint {
  const last = chunk.rows - 1;
  const since = chunk.since?.[last];
  return since === undefined || since === null
    ? { id: chunk.ids[last] }
    : { id: chunk.ids[last], since };
}

describe("FileBatchSource", () => {
  let dir: string;
  let glob: string;

  beforeAll(async () => {
    dir = tempDir("mldeploy-files-source-");
    // Real TLC-schema months, given a ride_id (TLC files have none): January 1…3000,
    // February 3001…6000, written in shuffled order so the read has to sort.
    for (const [month, offset] of [
      [1, 0],
      [2, MONTH_ROWS],
    ] as const) {
      const raw = path.join(dir, `raw-${month}.parquet`);
      await writeSampleTrips({ path: raw, seed: 11, year: 2021, month, rows: MONTH_ROWS });
      const out = path.join(dir, `green_tripdata_2021-0${month}.parquet`);
      await sql(
        `COPY (SELECT * FROM (SELECT row_number() OVER () + ${offset} AS ride_id, *
                              FROM read_parquet(${sqlString(raw)})) ORDER BY hash(ride_id))
         TO ${sqlString(out)} (FORMAT parquet)`,
      );
    }
    glob = path.join(dir, "green_tripdata_2021-*.parquet");
  });

  it("reads a glob of two months in chunks: every row once, in id order, typed", async () => {
    const source = new FileBatchSource({ path: glob });
    try {
      const options: ReadOptions = {
        idColumn: "ride_id",
        columns: ["PULocationID", "trip_distance", "lpep_pickup_datetime", "store_and_fwd_flag"],
        chunkSize: 1_000,
      };
      expect(await source.count(options)).toBe(2 * MONTH_ROWS);
      const chunks = await readAll(source, options);
      expect(chunks.map((c) => c.rows)).toEqual(Array(6).fill(1_000));
      const ids = chunks.flatMap((c) => c.ids);
      expect(ids).toEqual(Array.from({ length: 2 * MONTH_ROWS }, (_, i) => i + 1));
      const first = chunks[0];
      expect(first.since).toBeUndefined();
      expect(Object.keys(first.columns)).toEqual(options.columns);
      // Numbers and timestamps arrive as typed columns, text as one value per row.
      expect(first.columns.PULocationID).toBeInstanceOf(NumericColumn);
      expect(first.columns.lpep_pickup_datetime).toMatchObject({ kind: "timestamp" });
      expect(Array.isArray(first.columns.store_and_fwd_flag)).toBe(true);
      expect(typeof valueAt(first.columns.PULocationID, 0)).toBe("number");
      expect(typeof valueAt(first.columns.trip_distance, 0)).toBe("number");
      expect(valueAt(first.columns.lpep_pickup_datetime, 0)).toBeInstanceOf(Date);
      const pickup = valueAt(first.columns.lpep_pickup_datetime, 0) as Date;
      expect(pickup.getUTCFullYear()).toBe(2021);
      // The last chunk is February.
      const febPickup = valueAt(chunks[5].columns.lpep_pickup_datetime, 0) as Date;
      expect(febPickup.getUTCMonth()).toBe(1);
      expect(
        materialize(first.columns.store_and_fwd_flag).every(
          (v) => v === null || v === "Y" || v === "N",
        ),
      ).toBe(true);
    } finally {
      await source.close();
    }
  });

  it("resumes after a checkpoint with exactly the remaining rows", async () => {
    const source = new FileBatchSource({ path: glob });
    try {
      const base = { idColumn: "ride_id", columns: ["trip_distance"], chunkSize: 700 };
      const all = (await readAll(source, base)).flatMap((c) => c.ids);
      const firstRun: SourceChunk[] = [];
      for await (const chunk of source.read(base)) {
        firstRun.push(chunk);
        if (firstRun.length === 3) break; // "killed" after three committed chunks
      }
      const after = lastKey(firstRun[2]);
      expect(after).toEqual({ id: 2_100 });
      expect(await source.count({ ...base, after })).toBe(all.length - 2_100);
      const rest = (await readAll(source, { ...base, after })).flatMap((c) => c.ids);
      expect([...firstRun.flatMap((c) => c.ids), ...rest]).toEqual(all);
    } finally {
      await source.close();
    }
  });

  it("orders by (since, id) with tied microsecond timestamps and resumes exactly", async () => {
    const file = path.join(dir, "ties.parquet");
    // 1000 rows, only 10 distinct timestamps (microsecond precision), ids scattered.
    await sql(
      `COPY (SELECT (i * 379) % 1000 AS id,
                    TIMESTAMP '2024-03-01 10:00:00.000001' + to_microseconds(i % 10) AS updated_at,
                    i AS payload
             FROM range(1000) t(i))
       TO ${sqlString(file)} (FORMAT parquet)`,
    );
    const source = new FileBatchSource({ path: file });
    try {
      const base = { idColumn: "id", sinceColumn: "updated_at", columns: ["payload"] };
      const seen: Array<{ since: KeyValue | null; id: KeyValue }> = [];
      let after: Checkpoint | undefined;
      // A fresh read per chunk, each starting after the previous chunk's last key.
      for (;;) {
        const iterator = source.read({ ...base, after, chunkSize: 37 })[Symbol.asyncIterator]();
        const next = await iterator.next();
        await iterator.return?.();
        if (next.done) break;
        const chunk = next.value;
        chunk.ids.forEach((id, i) => seen.push({ since: chunk.since?.[i] ?? null, id }));
        after = lastKey(chunk);
      }
      expect(seen).toHaveLength(1000);
      expect(new Set(seen.map((r) => r.id)).size).toBe(1000);
      expect(typeof seen[0].since).toBe("string");
      expect(seen[0].since).toBe("2024-03-01 10:00:00.000001");
      for (let i = 1; i < seen.length; i++) {
        const [a, b] = [seen[i - 1], seen[i]];
        const ordered = a.since! < b.since! || (a.since === b.since && a.id < b.id);
        expect(ordered, `row ${i}`).toBe(true);
      }
    } finally {
      await source.close();
    }
  });

  it("partitions 0..3 of 4 cover every row exactly once", async () => {
    const source = new FileBatchSource({ path: glob });
    try {
      const ids: KeyValue[] = [];
      const sizes: number[] = [];
      for (let index = 0; index < 4; index++) {
        const options = {
          idColumn: "ride_id",
          columns: [],
          chunkSize: 5_000,
          partition: { index, count: 4 },
        };
        const part = (await readAll(source, options)).flatMap((c) => c.ids);
        expect(await source.count(options)).toBe(part.length);
        sizes.push(part.length);
        ids.push(...part);
      }
      expect(ids).toHaveLength(2 * MONTH_ROWS);
      expect(new Set(ids).size).toBe(2 * MONTH_ROWS);
      // A hash spreads the rows: no partition is nearly empty.
      for (const size of sizes) expect(size).toBeGreaterThan(MONTH_ROWS / 4);
      await expect(
        source.count({ idColumn: "ride_id", columns: [], partition: { index: 4, count: 4 } }),
      ).rejects.toThrow(/partition/);
    } finally {
      await source.close();
    }
  });

  it("reads CSV, leaves NULL ids out and counts them separately", async () => {
    const file = path.join(dir, "rides.csv");
    await sql(
      `COPY (SELECT CASE WHEN i % 100 = 99 THEN NULL ELSE i END AS id,
                    'zone ' || (i % 7) AS zone, i / 4 AS distance,
                    TIMESTAMP '2024-01-01' + to_minutes(i) AS pickup
             FROM range(500) t(i))
       TO ${sqlString(file)} (FORMAT csv, HEADER true)`,
    );
    const source = new FileBatchSource({ path: file });
    try {
      const options = {
        idColumn: "id",
        columns: ["zone", "distance", "pickup"],
        chunkSize: 128,
      };
      const chunks = await readAll(source, options);
      const ids = chunks.flatMap((c) => c.ids);
      expect(ids).toHaveLength(495);
      expect(ids.slice(0, 3)).toEqual([0, 1, 2]);
      expect(await source.count(options)).toBe(495);
      expect(await source.countNullKeys(options)).toBe(5);
      expect(valueAt(chunks[0].columns.zone, 1)).toBe("zone 1");
      expect(valueAt(chunks[0].columns.distance, 2)).toBe(0.5);
      expect(valueAt(chunks[0].columns.pickup, 1)).toEqual(new Date("2024-01-01T00:01:00Z"));
    } finally {
      await source.close();
    }
  });

  it("names missing columns and files", async () => {
    const source = new FileBatchSource({ path: glob });
    try {
      await expect(
        source.count({ idColumn: "ride_id", columns: ["no_such_column"] }),
      ).rejects.toThrow(/no column "no_such_column"; it has: ride_id, VendorID/);
    } finally {
      await source.close();
    }
    const missing = new FileBatchSource({ path: path.join(dir, "nope.parquet") });
    await expect(missing.count({ idColumn: "id", columns: [] })).rejects.toThrow(/nope\.parquet/);
    await missing.close();
    expect(() => new FileBatchSource({ path: path.join(dir, "rides.json") })).toThrow(/format/);
  });
});

it("copies numbers, timestamps and NULLs exactly across DuckDB vectors and chunk boundaries", async () => {
  const dir = tempDir("mldeploy-files-source-nulls-");
  const file = path.join(dir, "nulls.parquet");
  // 5,000 rows: several 2048-row DuckDB vectors, nulls at irregular rows (bits 0..63 of the
  // validity words), integer, decimal and float columns that travel as DOUBLE.
  await sql(
    `COPY (SELECT i AS id,
                  CASE WHEN i % 7 = 3 THEN NULL ELSE CAST(i AS INTEGER) END AS small,
                  CASE WHEN i % 11 = 0 THEN NULL ELSE CAST(i / 4 AS DECIMAL(10, 2)) END AS dec,
                  CASE WHEN i % 13 = 5 THEN NULL ELSE CAST(i AS FLOAT) / 2 END AS f,
                  CASE WHEN i % 17 = 1 THEN NULL ELSE TIMESTAMP '2024-01-01' + to_seconds(i) END AS ts
           FROM range(5000) t(i) ORDER BY hash(i))
     TO ${sqlString(file)} (FORMAT parquet)`,
  );
  const source = new FileBatchSource({ path: file });
  try {
    const chunks = await readAll(source, {
      idColumn: "id",
      columns: ["small", "dec", "f", "ts"],
      chunkSize: 777,
    });
    const ids = chunks.flatMap((c) => c.ids);
    expect(ids).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    const column = (name: string) => chunks.flatMap((c) => materialize(c.columns[name]));
    expect(column("small")).toEqual(ids.map((i) => (Number(i) % 7 === 3 ? null : i)));
    expect(column("dec")).toEqual(
      ids.map((i) => (Number(i) % 11 === 0 ? null : Number((Number(i) / 4).toFixed(2)))),
    );
    expect(column("f")).toEqual(ids.map((i) => (Number(i) % 13 === 5 ? null : Number(i) / 2)));
    expect(column("ts")).toEqual(
      ids.map((i) =>
        Number(i) % 17 === 1 ? null : new Date(Date.UTC(2024, 0, 1) + Number(i) * 1000),
      ),
    );
  } finally {
    await source.close();
  }
});

it("keeps a real NaN apart from NULL: such a column continues as one value per row", async () => {
  const dir = tempDir("mldeploy-files-source-nan-");
  const file = path.join(dir, "nan.parquet");
  // NaN first appears in the middle of the second chunk, after rows already copied as numbers.
  await sql(
    `COPY (SELECT i AS id,
                  CASE WHEN i % 5 = 0 THEN NULL WHEN i = 1501 THEN 'NaN'::DOUBLE ELSE i / 2 END AS x,
                  i / 4 AS y
           FROM range(3000) t(i))
     TO ${sqlString(file)} (FORMAT parquet)`,
  );
  const source = new FileBatchSource({ path: file });
  try {
    const chunks = await readAll(source, { idColumn: "id", columns: ["x", "y"], chunkSize: 1000 });
    expect(chunks.map((c) => c.columns.x instanceof NumericColumn)).toEqual([true, false, true]);
    expect(chunks.every((c) => c.columns.y instanceof NumericColumn)).toBe(true);
    const x = chunks.flatMap((c) => materialize(c.columns.x));
    expect(x).toHaveLength(3000);
    x.forEach((value, i) => {
      if (i % 5 === 0) expect(value).toBeNull();
      else if (i === 1501) expect(value).toBeNaN();
      else expect(value).toBe(i / 2);
    });
  } finally {
    await source.close();
  }
});
