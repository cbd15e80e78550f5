import { badRequest, RequestError } from "./errors.js";

export interface CsvTable {
  header: string[];
  rows: number;
  /** Cells of one column, top to bottom. */
  column(index: number): string[];
}

/**
 * RFC 4180 CSV (quoted fields, doubled quotes, CRLF or LF) with a header row. Every row must
 * have as many cells as the header: a short or long row is reported with its number, because
 * silently shifting cells would feed values to the wrong feature.
 */
export function parseCsv(text: string, maxRows: number): CsvTable {
  const records = splitRecords(text, maxRows);
  if (records.length === 0) throw badRequest("CSV body is empty; a header row is required");
  const header = records[0].map((name) => name.trim());
  const data = records.slice(1);
  data.forEach((cells, row) => {
    if (cells.length !== header.length) {
      throw badRequest(
        `CSV row ${row} has ${cells.length} cells but the header has ${header.length}`,
        undefined,
        row,
      );
    }
  });
  return {
    header,
    rows: data.length,
    column: (index) => data.map((cells) => cells[index]),
  };
}

function splitRecords(text: string, maxRows: number): string[][] {
  const records: string[][] = [];
  let cells: string[] = [];
  let cell = "";
  let quoted = false;
  let i = 0;
  const endRecord = () => {
    cells.push(cell);
    cell = "";
    // A blank line (e.g. the trailing newline) is not a row.
    if (!(cells.length === 1 && cells[0] === "")) {
      if (records.length > maxRows) {
        throw new RequestError(
          413,
          `CSV has more than ${maxRows} rows; at most ${maxRows} are accepted per request (maxRows)`,
        );
      }
      records.push(cells);
    }
    cells = [];
  };
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else {
        cell += ch;
      }
      i++;
      continue;
    }
    if (ch === '"' && cell === "") quoted = true;
    else if (ch === ",") {
      cells.push(cell);
      cell = "";
    } else if (ch === "\n") endRecord();
    else if (ch === "\r") {
      if (text[i + 1] !== "\n") endRecord();
    } else cell += ch;
    i++;
  }
  if (quoted) throw badRequest("CSV has an unterminated quoted field");
  if (cell !== "" || cells.length > 0) endRecord();
  return records;
}
