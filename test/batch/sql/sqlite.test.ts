import path from "node:path";
import Database from "better-sqlite3";
import { describeSqlContract } from "./contract.js";
import { tempDir } from "../../helpers/temp.js";

describeSqlContract("SQLite", async () => {
  const file = path.join(tempDir("mldeploy-batch-sql-"), "rides.db");
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  return {
    url: `sqlite:${file}`,
    table: (name) => name,
    exec: async (sql) => void db.exec(sql),
    query: async (sql) => db.prepare(sql).all() as Record<string, unknown>[],
    insert: async (table, columns, rows) => {
      const insert = db.prepare(
        `INSERT INTO ${table} (${columns.map((c) => `"${c}"`).join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
      );
      db.transaction(() => rows.forEach((row) => insert.run(...row)))();
    },
    // Timestamps as ISO text, which sorts in time order.
    timestampType: "TEXT",
    otherTimestampTypes: [],
    datesAsDate: false,
    refuseCheckpoint: (table, jobId, trigger) => ({
      // Upserts run the BEFORE INSERT trigger, and BEFORE UPDATE when the row exists.
      create: ["INSERT", "UPDATE"].map(
        (event) =>
          `CREATE TRIGGER ${trigger}_${event.toLowerCase()} BEFORE ${event} ON ${table} ` +
          `WHEN NEW.job_id = '${jobId}' BEGIN SELECT RAISE(ABORT, 'checkpoint refused'); END`,
      ),
      drop: ["insert", "update"].map((event) => `DROP TRIGGER IF EXISTS ${trigger}_${event}`),
    }),
    close: async () => void db.close(),
  };
});
