export { FileBatchSource, formatFromPath } from "./source.js";
export type { DuckDBSettings, FileFormat, FileSourceOptions } from "./source.js";
export { FileBatchSink } from "./sink.js";
export type { FileSinkOptions, FinalizeResult } from "./sink.js";
export { openFileSink, openFileSource, parseFileLocation } from "./open.js";
export type { FileLocation } from "./open.js";
