import { fileURLToPath } from "node:url";
import { UserError } from "../../config/errors.js";
import { FileBatchSink, type FileSinkOptions } from "./sink.js";
import { formatFromPath, type FileFormat } from "./format.js";
import { FileBatchSource, type FileSourceOptions } from "./source.js";

export interface FileLocation {
  path: string;
  format: FileFormat;
}

const PREFIX = /^(parquet|csv):(.*)$/i;

/**
 * Where a `--source`/`--sink` value points, when it names files: `parquet:<path>`,
 * `csv:<path>`, `file:///…`, or a plain path or glob ending in .parquet / .csv (.tsv, .gz,
 * .zst). Undefined for anything else (`postgres://…`, `sqlite:…`), so callers can try the
 * other kinds.
 */
export function parseFileLocation(urlOrPath: string): FileLocation | undefined {
  const prefixed = PREFIX.exec(urlOrPath);
  if (prefixed) {
    // `parquet:file:///x` and `parquet://x` are accepted too; the rest is a path or glob.
    let rest = prefixed[2];
    if (rest.startsWith("file:")) rest = fileURLToPath(rest);
    else if (rest.startsWith("//")) rest = rest.slice(2);
    if (!rest) throw new UserError(`${urlOrPath}: no path after "${prefixed[1]}:"`);
    return { path: rest, format: prefixed[1].toLowerCase() as FileFormat };
  }
  const file = urlOrPath.startsWith("file:") ? fileURLToPath(urlOrPath) : urlOrPath;
  // Any other scheme (two or more letters then ":") is not ours; one letter is a Windows drive.
  if (file === urlOrPath && /^[a-z][a-z0-9+.-]+:/i.test(file)) return undefined;
  const format = formatFromPath(file);
  return format ? { path: file, format } : undefined;
}

function location(urlOrPath: string): FileLocation {
  const found = parseFileLocation(urlOrPath);
  if (!found) {
    throw new UserError(
      `${urlOrPath}: not a file source/sink (expected a .parquet or .csv path or glob, or parquet:<path> / csv:<path>)`,
    );
  }
  return found;
}

export function openFileSource(
  urlOrPath: string,
  options: Omit<FileSourceOptions, "path" | "format"> = {},
): FileBatchSource {
  return new FileBatchSource({ ...options, ...location(urlOrPath) });
}

export function openFileSink(
  urlOrPath: string,
  options: Omit<FileSinkOptions, "path" | "format"> = {},
): FileBatchSink {
  const found = location(urlOrPath);
  if (/[*?[{]/.test(found.path)) {
    throw new UserError(`${urlOrPath}: a sink is one file, not a glob`);
  }
  return new FileBatchSink({ ...options, ...found });
}
