import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { Command } from "commander";
import { UserError } from "../../config/errors.js";
import { isPlainObject } from "../../model/validate.js";
import { addImportOptions, servableModelPath } from "../import-options.js";
import { addRegistryConfigOptions } from "../registry-settings.js";
import { MODEL_ARGUMENT } from "./info.js";

/** Lines read per onnxruntime call: large enough to amortise the call, small enough to stream. */
const CHUNK = 4096;

export function registerPredict(program: Command): void {
  const command = program
    .command("predict")
    .description(
      "Predict offline for JSON records (one object per line, or --json '{...}'); prints JSON lines",
    )
    .argument("<model>", MODEL_ARGUMENT)
    .option("--json <record>", "one JSON record or an array of records")
    .option("--input <file>", "JSON Lines file to read ('-' for standard input)");
  addImportOptions(command);
  addRegistryConfigOptions(command);
  command
    .addHelpText(
      "after",
      `\nExamples:\n  mldeploy predict ./mldeploy-data/models/ride-duration --json '{"PULocationID": 10, "DOLocationID": 50, "trip_distance": 40}'\n  mldeploy predict models:/ride-duration@production --input rides.jsonl`,
    )
    .action(async (model: string, flags: Record<string, unknown>) => {
      const json = typeof flags.json === "string" ? flags.json : undefined;
      const inputFile = typeof flags.input === "string" ? flags.input : undefined;
      if (!json && !inputFile)
        throw new UserError("give --json '<record>' or --input <file.jsonl>");
      const predictor = await (
        await import("../../model/predictor.js")
      ).loadPredictor(await servableModelPath(model, flags));
      const { output, version } = predictor.info;
      const emit = async (records: Record<string, unknown>[]) => {
        const result = await predictor.predictRecords(records);
        let text = "";
        for (let i = 0; i < result.rows; i++)
          text += JSON.stringify({ [output]: result.values[i], model_version: version }) + "\n";
        process.stdout.write(text);
      };
      try {
        if (json) {
          const parsed = parseJson(json, "--json");
          await emit(
            (Array.isArray(parsed) ? parsed : [parsed]).map((r, i) => asRecord(r, `--json[${i}]`)),
          );
        }
        if (inputFile) {
          const input = inputFile === "-" ? process.stdin : createReadStream(inputFile);
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
              throw new UserError(`input file ${inputFile} does not exist`);
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
