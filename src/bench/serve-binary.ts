import { runLoad, type LoadResult, type LoadSpec } from "./load.js";
import { perServerCpu } from "./serve-grpc.js";
import type { ServerProcess } from "./processes.js";

/**
 * The bench:serve scenario "V2 binary": the same rides as the JSON /invocations scenario, sent
 * to /v2/models/{name}/infer as Triton's HTTP client sends them by default (the binary tensor
 * data extension: INT64 and FP64 tensors as raw little-endian bytes after the JSON header,
 * binary_data_output true), so that their rows/s compare.
 */

export interface BinaryRequest {
  body: Buffer;
  headers: Record<string, string>;
  rows: number;
}

/** The binary inference request holding the rows of an MLflow dataframe_split body. */
export function binaryInferRequest(dataframeSplitJson: string): BinaryRequest {
  const { columns, data } = (
    JSON.parse(dataframeSplitJson) as { dataframe_split: { columns: string[]; data: number[][] } }
  ).dataframe_split;
  const rows = data.length;
  const tensors = columns.map((name, c) => {
    const integer = name !== "trip_distance";
    const values = data.map((row) => row[c]);
    const bytes = integer
      ? Buffer.from(BigInt64Array.from(values, (value) => BigInt(value)).buffer)
      : Buffer.from(Float64Array.from(values).buffer);
    return { name, datatype: integer ? "INT64" : "FP64", bytes };
  });
  const header = Buffer.from(
    JSON.stringify({
      inputs: tensors.map(({ name, datatype, bytes }) => ({
        name,
        shape: [rows],
        datatype,
        parameters: { binary_data_size: bytes.length },
      })),
      parameters: { binary_data_output: true },
    }),
  );
  return {
    body: Buffer.concat([header, ...tensors.map((tensor) => tensor.bytes)]),
    // tritonclient sends no Content-Type; octet-stream is what KServe's client sends.
    headers: {
      "content-type": "application/octet-stream",
      "inference-header-content-length": String(header.length),
    },
    rows,
  };
}

/** The autocannon run of the scenario: the spec's URL and settings, the binary body. */
export function binaryLoad(request: BinaryRequest): (spec: LoadSpec) => Promise<LoadResult> {
  return (spec) => runLoad({ ...spec, body: request.body, headers: request.headers });
}

/**
 * Before any figure: the binary answer must hold, bit for bit, the predictions /invocations
 * gives for the same rows, or comparing their speed means nothing.
 */
export async function checkBinaryAnswers(
  url: string,
  modelName: string,
  dataframeSplitJson: string,
  request: BinaryRequest,
): Promise<void> {
  const json = await fetch(`${url}/invocations`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: dataframeSplitJson,
  });
  // MLflow's records: one object per row, keyed by the output's name.
  const records = ((await json.json()) as { predictions: Array<Record<string, number>> })
    .predictions;
  const predictions = records.map((record) => Object.values(record)[0]);
  const binary = await fetch(`${url}/v2/models/${encodeURIComponent(modelName)}/infer`, {
    method: "POST",
    headers: request.headers,
    body: request.body,
  });
  const body = Buffer.from(await binary.arrayBuffer());
  const headerLength = Number(binary.headers.get("inference-header-content-length"));
  if (!binary.ok || !(headerLength > 0))
    throw new Error(
      `V2 binary answered ${binary.status} ${body.toString("utf8", 0, 300)} (no binary outputs)`,
    );
  const header = JSON.parse(body.toString("utf8", 0, headerLength)) as {
    outputs: Array<{ datatype: string; parameters?: { binary_data_size?: number } }>;
  };
  const first = header.outputs[0];
  const size = first?.parameters?.binary_data_size;
  if (first?.datatype !== "FP64" || size !== request.rows * 8)
    throw new Error(`V2 binary: unexpected first output ${JSON.stringify(first)}`);
  const raw = body.subarray(headerLength, headerLength + size);
  const values = new Float64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + size));
  const differ = predictions.findIndex((value, i) => value !== values[i]);
  if (differ >= 0 || predictions.length !== values.length)
    throw new Error(
      `V2 BINARY ANSWERS DIFFER from /invocations at row ${differ}: ${values[differ]} vs ${predictions[differ]}`,
    );
  console.log(
    `V2 binary: the same ${predictions.length} predictions as /invocations, bit for bit\n`,
  );
}

export const BINARY = "V2 binary";
/** The model's name in the scenario's URL (served with --model-name). */
export const BINARY_MODEL = "bench";

/** The scenario, in the shape of serve.ts's Scenario: the JSON batch's rows as binary tensors. */
export function binaryScenario(
  dataframeSplitJson: string,
  start: () => Promise<ServerProcess>,
  fmt: (n: number) => string,
) {
  const request = binaryInferRequest(dataframeSplitJson);
  return {
    name: `${BINARY}, ${fmt(request.rows)}-row tensors (Inference-Header-Content-Length)`,
    start,
    path: `/v2/models/${BINARY_MODEL}/infer`,
    body: "",
    rowsPerRequest: request.rows,
    load: binaryLoad(request),
    check: (url: string) => checkBinaryAnswers(url, BINARY_MODEL, dataframeSplitJson, request),
  };
}

/** The issue's target: the binary scenario's rows/s at least twice JSON /invocations'. */
export function binaryTarget(
  binary: LoadResult,
  json: LoadResult,
  rows: number,
  fmt: (n: number, digits?: number) => string,
): string {
  const ratio = binary.requestsPerSecond / json.requestsPerSecond;
  return (
    `V2 binary >= 2x the rows/s of JSON /invocations (${fmt(rows)} rows): ${fmt(ratio, 2)}x ` +
    `(${fmt(binary.requestsPerSecond * rows)} vs ${fmt(json.requestsPerSecond * rows)} rows/s), ` +
    `${ratio >= 2 ? "MET" : "NOT MET"}` +
    perServerCpu(binary, json)
  );
}
