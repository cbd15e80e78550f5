import { z } from "zod";
import {
  checkedPath,
  fileHeaders,
  listFiles,
  openFile,
  readHead,
  runArtifacts,
} from "./artifact-files.js";
import { readRunModel, type RunModel } from "./artifact-model.js";
import { csvHead, parquetHead, tableFormatOf, type TableHead } from "./artifact-tables.js";
import { defineRoute, RawAnswer, type ApiRoute } from "./route-spec.js";
import { RequestValidationError } from "./validation.js";
import { apiSchemas } from "./schemas.js";

/**
 * Reads of a run's artifacts for the web UI (and any client): the files under the run's
 * artifact root, one file's bytes, the head of a CSV or Parquet table, and the model a
 * directory holds. They go through the registry's artifact stores, so a shared registry whose
 * artifacts are on S3 shows them too; the browser never reaches the bucket or the disk.
 */

function named<T extends z.ZodType>(id: string, schema: T): T {
  apiSchemas.add(schema, { id });
  return schema;
}

const runParams = z.object({ id: z.string().describe("Run id") });
const pathField = z
  .string()
  .describe("A path relative to the run's artifact root, `/`-separated (model/MLmodel)");

const artifactListSchema = named(
  "ArtifactList",
  z.strictObject({
    artifactUri: z.string().describe("The run's artifact root"),
    path: z.string().describe('The directory listed, relative to the root ("" = the root)'),
    files: z
      .array(z.strictObject({ path: z.string(), size: z.number().describe("Bytes") }))
      .describe("Every file under the directory, recursively, sorted by path"),
    truncated: z.boolean().describe("More files than the 10,000 answered"),
  }),
);

const columnSpecSchema = z.object({
  name: z.string(),
  type: z.string(),
  required: z.boolean().optional(),
  minimum: z.number().optional(),
  maximum: z.number().optional(),
});

const runModelSchema: z.ZodType<RunModel> = named(
  "RunModel",
  z.strictObject({
    path: z.string(),
    source: z
      .string()
      .describe("Artifact URI of the directory: the `source` of a version registered from it"),
    runId: z.string(),
    onnx: z
      .boolean()
      .describe("An ONNX bundle (else another MLflow flavor, converted when loaded)"),
    signature: z
      .object({ inputs: z.array(columnSpecSchema), outputs: z.array(columnSpecSchema) })
      .nullable(),
    signatureJson: z
      .string()
      .nullable()
      .describe("The signature as createModelVersion's `signature` takes it (what the CLI sends)"),
    inputExample: z.unknown().describe("input_example.json, parsed; null when absent"),
    servingInputExample: z
      .unknown()
      .describe("serving_input_example.json, parsed; null when absent"),
  }),
) as z.ZodType<RunModel>;

const tableHeadSchema: z.ZodType<TableHead> = named(
  "TableHead",
  z.strictObject({
    format: z.enum(["csv", "parquet"]),
    columns: z.array(z.string()),
    types: z.array(z.string()).describe("DuckDB type names (VARCHAR for every CSV column)"),
    rows: z.array(z.array(z.unknown())),
    truncated: z.boolean().describe("The file has more rows than answered"),
    totalRows: z.number().nullable().describe("Rows in the file, when known (Parquet)"),
  }),
) as z.ZodType<TableHead>;

const yes = z
  .enum(["true", "false", "1", "0"])
  .transform((value) => value === "true" || value === "1");

export const ARTIFACT_ROUTES: readonly ApiRoute[] = [
  defineRoute({
    method: "GET",
    path: "/runs/:id/artifacts",
    operationId: "listRunArtifacts",
    summary:
      "List a run's artifact files (recursively, with sizes; the manifests mldeploy writes are left out)",
    tag: "artifacts",
    params: runParams,
    query: z.strictObject({
      path: pathField.optional().describe("Only this directory (default: the whole root)"),
    }),
    status: 200,
    response: artifactListSchema,
    errors: [404, 422],
    handle: async (store, { params, query }, rules) => {
      const artifacts = await runArtifacts(store, params.id, rules);
      const relative = checkedPath(query.path, true);
      return {
        artifactUri: artifacts.root,
        path: relative,
        ...(await listFiles(artifacts, relative)),
      };
    },
  }),
  defineRoute({
    method: "GET",
    path: "/runs/:id/artifacts/file",
    operationId: "getRunArtifactFile",
    summary:
      "One artifact file's bytes, typed by its extension; maxBytes answers only its head " +
      "(X-Artifact-Truncated says whether there is more); download=true asks the browser to save it",
    tag: "artifacts",
    params: runParams,
    query: z.strictObject({
      path: pathField,
      maxBytes: z.coerce
        .number()
        .int()
        .min(1)
        .max(64 * 1024 * 1024)
        .optional()
        .describe("Answer at most this many bytes (the head of the file)"),
      download: yes.optional().describe("Content-Disposition: attachment (default inline)"),
    }),
    status: 200,
    produces: "application/octet-stream",
    errors: [404, 422],
    handle: async (store, { params, query }, rules) => {
      const artifacts = await runArtifacts(store, params.id, rules);
      const relative = checkedPath(query.path, false);
      const stream = await openFile(artifacts, relative);
      const download = query.download ?? false;
      if (query.maxBytes === undefined) {
        return new RawAnswer(stream, fileHeaders(relative, { download }));
      }
      const { bytes, truncated } = await readHead(stream, query.maxBytes);
      return new RawAnswer(bytes, fileHeaders(relative, { download, truncated }));
    },
  }),
  defineRoute({
    method: "GET",
    path: "/runs/:id/artifacts/table",
    operationId: "getRunArtifactTable",
    summary: "The first rows of a CSV, TSV or Parquet artifact as columns and rows",
    tag: "artifacts",
    params: runParams,
    query: z.strictObject({
      path: pathField,
      rows: z.coerce
        .number()
        .int()
        .min(1)
        .max(1000)
        .default(100)
        .describe("Rows answered (default 100, at most 1000)"),
    }),
    status: 200,
    response: tableHeadSchema,
    errors: [404, 422],
    handle: async (store, { params, query }, rules) => {
      const artifacts = await runArtifacts(store, params.id, rules);
      const relative = checkedPath(query.path, false);
      const format = tableFormatOf(relative);
      if (format === undefined) {
        throw new RequestValidationError(
          `invalid request query field "path": "${relative}" is not a table file ` +
            "(.csv, .tsv or .parquet)",
          "path",
        );
      }
      const stream = await openFile(artifacts, relative);
      if (format === "parquet") return parquetHead(stream, relative, query.rows);
      return csvHead(stream, relative, query.rows, format === "tsv" ? "\t" : ",");
    },
  }),
  defineRoute({
    method: "GET",
    path: "/runs/:id/artifacts/model",
    operationId: "getRunArtifactModel",
    summary:
      "The model in a directory of a run's artifacts (one holding MLmodel): its signature, " +
      "input example, and the `source` and `signature` a version registered from it records",
    tag: "artifacts",
    params: runParams,
    query: z.strictObject({
      path: pathField.optional().describe("The directory holding MLmodel (default: the root)"),
    }),
    status: 200,
    response: runModelSchema,
    errors: [404, 422],
    handle: async (store, { params, query }, rules) => {
      const artifacts = await runArtifacts(store, params.id, rules);
      return readRunModel(artifacts, checkedPath(query.path, true));
    },
  }),
];
