import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { UserError } from "../../config/errors.js";
import { isPlainObject } from "../../model/validate.js";
import { localPath } from "./info.js";

/** Lines read per onnxruntime call: large enough to amortise the call, small enough to stream. */
const CHUNK = 4096;

export function registerPredict(program: Command): void {
  program
    .command("predict")
    .description(
      "Predict offline for JSON records (one object per line, or --json '{...}'); prints JSON lines",
    )
    .argument("<model>", "model bundle directory (or file:// URI)")
    .option("--json <record>", "one JSON record or an array of records")
    .option("--input <file>", "JSON Lines file to read ('-' for standard input)")
    .addHelpText(
      "after",
      `\nExample:\n  mldeploy predict ./mldeploy-data/models/ride-duration --json '{"PULocationID": 10, "DOLocationID": 50, "trip_distance": 40}'`,
    )
    .action(async (model: string, flags: { json?: string; input?: string }) => {
      if (!flags.json && !flags.input)
        throw new UserError("give --json '<record>' or --input <file.jsonl>");
      const predictor = await (
        await import("../../model/predictor.js")
      ).loadPredictor(localPath(model));
      const { output, version } = predictor.info;
      const emit = async (records: Record<string, unknown>[]) => {
        const result = await predictor.predictRecords(records);
        let text = "";
        for (let i = 0; i < result.rows; i++)
          text += JSON.stringify({ [output]: result.values[i], model_version: version }) + "\n";
        process.stdout.write(text);
      };
      try {
        if (flags.json) {
          const parsed = parseJson(flags.json, "--json");
          await emit(
            (Array.isArray(parsed) ? parsed : [parsed]).map((r, i) => asRecord(r, `--json[${i}]`)),
          );
        }
        if (flags.input) {
          const input = flags.input === "-" ? process.stdin : createReadStream(flags.input);
          input.on("error", () => {});
          let chunk: Record<string, unknown>[] = [];
          let lineNo = 0;
          try {
            for await (const line of createInterface({ input, crlfDelay: Infinity })) {
              lineNo++;
              if (!line.trim()) continue;
              chunk.push(asRecord(parseJson(line, `line ${lineNo}`), `line ${lineNo}`));
              if (chunk.length === CHUNK) {
                await emit(chunk);
                chunk = [];
              }
            }
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code === "ENOENT")
              throw new UserError(`input file ${flags.input} does not exist`);
            throw error;
          }
          if (chunk.length) await emit(chunk);
        }
      } finally {
        await predictor.close();
      }
    });
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UserError(`${where}: not valid JSON (${(error as Error).message})`);
  }
}

function asRecord(value: unknown, where: string): Record<string, unknown> {
  if (!isPlainObject(value)) throw new UserError(`${where}: expected a JSON object`);
  return value;
}
