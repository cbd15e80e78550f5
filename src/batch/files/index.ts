export { formatFromPath } from "./format.js";
export type { FileFormat } from "./format.js";
export { FileBatchSource } from "./source.js";
export type { FileSourceOptions } from "./source.js";
export type { DuckDBSettings } from "../../duckdb/instance.js";
export { FileBatchSink } from "./sink.js";
export type { FileSinkOptions, FinalizeResult } from "./sink.js";
export { openFileSink, openFileSource, parseFileLocation } from "./open.js";
export type { FileLocation } from "./open.js";
