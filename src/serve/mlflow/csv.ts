import type { Readable } from "node:stream";
import { setImmediate as nextTurn } from "node:timers/promises";
import { CsvError, parse } from "csv-parse";
import { clip } from "../describe.js";
import { badRequest, RequestError, tooLarge } from "../errors.js";

/** Where the rows of a CSV body go as they are parsed. */
export interface CsvSink {
  /** The header row, names trimmed; called once, before any rows. */
  header(names: string[]): void;
  /** One data row, with exactly as many cells as the header. */
  row(cells: string[]): void;
  /** An estimate of the number of data rows, given once when the body's size is known. */
  expect?(rows: number): void;
}

export interface CsvLimits {
  /** Most data rows (more is a 413). */
  maxRows: number;
  /** Most bytes read from the body (more is a 413). */
  maxBytes: number;
  /** The body's size when known in advance (Content-Length of a body sent as is). */
  expectedBytes?: number;
}

// How long parsing may hold the event loop before it lets other requests run: a 15 MB body
// is read in slices, not in one block of seconds.
const YIELD_AFTER_MS = 10;

/**
 * Reads RFC 4180 CSV (quoted fields, doubled quotes, CRLF, LF or CR line ends, a UTF-8 BOM)
 * with a header row from a stream as it arrives: memory holds a chunk of the body, not all
 * of it. Blank lines are not rows. Every row must have as many cells as the header: the first
 * short or long row is reported with its number, because silently shifting cells would feed
 * values to the wrong feature. Returns the number of data rows.
 */
export function readCsv(body: Readable, limits: CsvLimits, sink: CsvSink): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const parser = parse({
      bom: true,
      // Checked here, to report the row the way every protocol does.
      relax_column_count: true,
      // A quote inside an unquoted cell is text (as pandas reads it), not an error.
      relax_quotes: true,
      record_delimiter: ["\r\n", "\n", "\r"],
      // Blank lines (e.g. the trailing newline) are not rows.
      skip_empty_lines: true,
    });
    let bytes = 0;
    let width = -1;
    let rows = 0;
    let estimated = false;
    let settled = false;

    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      body.off("data", onData);
      body.off("end", onEnd);
      parser.off("data", onRecord);
      parser.destroy();
      // The rest of the body drains; Fastify closes the connection after the error answer.
      body.resume();
      reject(error);
    };

    // The body is paused while the parser's buffer is full, and for one event-loop turn after
    // every YIELD_AFTER_MS of parsing: libuv hands over up to 2 MB of a fast client's bytes
    // at once, which would otherwise be parsed without a break.
    let parserFull = false;
    let yielding = false;
    let lastYield = performance.now();
    const onData = (chunk: Buffer | string) => {
      bytes += chunk.length;
      if (bytes > limits.maxBytes) return fail(tooLarge());
      if (!parser.write(chunk)) {
        parserFull = true;
        body.pause();
      }
      // The rows in the first chunk tell how many the whole body holds (rows are alike).
      if (!estimated && rows > 0 && limits.expectedBytes !== undefined) {
        estimated = true;
        sink.expect?.(Math.ceil(((rows * limits.expectedBytes) / bytes) * 1.1) + 1024);
      }
      if (!yielding && performance.now() - lastYield > YIELD_AFTER_MS) {
        yielding = true;
        body.pause();
        void nextTurn().then(() => {
          yielding = false;
          lastYield = performance.now();
          if (!settled && !parserFull) body.resume();
        });
      }
    };
    const onEnd = () => parser.end();
    const onRecord = (cells: string[]) => {
      if (settled) return;
      try {
        if (width < 0) {
          width = cells.length;
          sink.header(cells.map((name) => name.trim()));
          return;
        }
        if (rows >= limits.maxRows) {
          return fail(
            new RequestError(
              413,
              `CSV has more than ${limits.maxRows} rows; at most ${limits.maxRows} are accepted per request (maxRows)`,
            ),
          );
        }
        // At once: csv-parse pays for an error object on every row of the wrong width.
        if (cells.length !== width) {
          return fail(
            badRequest(
              `CSV row ${rows} has ${cells.length} cells but the header has ${width}`,
              undefined,
              rows,
            ),
          );
        }
        sink.row(cells);
        rows++;
      } catch (error) {
        fail(error);
      }
    };
    const onParsed = () => {
      if (settled) return;
      if (width < 0) return fail(badRequest("CSV body is empty; a header row is required"));
      settled = true;
      resolve(rows);
    };

    parser.on("data", onRecord);
    parser.on("end", onParsed);
    parser.on("error", (error) => fail(csvError(error)));
    parser.on("drain", () => {
      parserFull = false;
      if (!yielding) body.resume();
    });
    body.on("data", onData);
    body.on("end", onEnd);
    body.on("error", (error) =>
      fail(
        error instanceof RequestError
          ? error
          : badRequest(`the request body could not be read: ${clip(error.message)}`),
      ),
    );
    // A client that goes away mid-body ends the read (the answer goes nowhere).
    body.on("close", () => {
      if (!body.readableEnded) fail(badRequest("the request body ended early"));
    });
  });
}

function csvError(error: Error): RequestError {
  if (error instanceof CsvError && error.code === "CSV_QUOTE_NOT_CLOSED")
    return badRequest("CSV has an unterminated quoted field");
  return badRequest(`CSV is malformed: ${clip(error.message)}`);
}
