/**
 * DuckDB, the engine that reads and writes Parquet and CSV: opening and closing an in-memory
 * instance with its settings, SQL quoting, and copying typed vectors into JS.
 */
export { closeDuckDB, DEFAULT_MEMORY_LIMIT, openDuckDB, withDuckDB } from "./instance.js";
export type { DuckDBEngine, DuckDBSettings } from "./instance.js";
export { firstLine, sqlIdentifier, sqlString } from "./sql.js";
export {
  BIG_INTEGERS,
  TIMES,
  copyVector,
  doubleData,
  fromBigint,
  isInt64Type,
  isSmallIntegerType,
} from "./vectors.js";
export type { VectorKind } from "./vectors.js";
