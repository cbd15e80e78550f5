import { afterAll, describe, expect, it } from "vitest";
import { PostgresStore, describePostgres } from "../../../src/registry/store/postgres-store.js";
import { describeStoreContract } from "./contract.js";
import {
  expectRegistryError,
  NO_POSTGRES,
  PG_URL,
  postgresReachable,
  TestSchemas,
} from "./helpers.js";

const HAS_POSTGRES = await postgresReachable();
const schemas = new TestSchemas();
afterAll(() => schemas.drop());

describe.skipIf(!HAS_POSTGRES)(HAS_POSTGRES ? "PostgreSQL" : `PostgreSQL — ${NO_POSTGRES}`, () => {
  // One schema for the contract tests of this file, emptied before each test.
  const contractSchema = schemas.next();
  describeStoreContract("PostgreSQL", async ({ artifactRoot }) => {
    await schemas.empty(contractSchema);
    return PostgresStore.open(PG_URL, { schema: contractSchema, artifactRoot, poolSize: 4 });
  });

  describe("PostgresStore", () => {
    it("describes itself without the password, with the schema", async () => {
      expect(
        describePostgres("postgres://alice:s3cret@db.example:5432/reg?sslmode=require", "x"),
      ).toBe("postgres://alice@db.example:5432/reg?schema=x");
      const url = new URL(PG_URL);
      url.password = "not-needed-with-trust-auth";
      const schema = schemas.next();
      const store = await PostgresStore.open(url.toString(), { schema });
      expect(store.description).not.toContain("not-needed");
      expect(store.description).toContain(`schema=${schema}`);
      await store.close();
    });

    it("keeps each schema's data apart", async () => {
      const a = await PostgresStore.open(PG_URL, { schema: schemas.next() });
      const b = await PostgresStore.open(PG_URL, { schema: schemas.next() });
      await a.createExperiment("only-in-a");
      expect(await b.findExperimentByName("only-in-a")).toBeUndefined();
      await Promise.all([a.close(), b.close()]);
    });

    it("refuses a schema name that would need quoting", async () => {
      await expectRegistryError(
        PostgresStore.open(PG_URL, { schema: "Bad-Name" }),
        "INVALID_NAME",
        "Bad-Name",
      );
    });

    it("keeps what was written after closing and opening again", async () => {
      const schema = schemas.next();
      const first = await PostgresStore.open(PG_URL, { schema });
      const experiment = await first.createExperiment("persist");
      await first.close();
      const second = await PostgresStore.open(PG_URL, { schema });
      expect(await second.getExperiment(experiment.id)).toEqual(experiment);
      await second.close();
    });

    it("allocates distinct versions to concurrent registrations on one pool", async () => {
      const store = await PostgresStore.open(PG_URL, { schema: schemas.next(), poolSize: 8 });
      const versions = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.createModelVersion({ name: "m", source: `${i}` }),
        ),
      );
      expect(versions.map((v) => v.version).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      await store.close();
    });
  });
});
