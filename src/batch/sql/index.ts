export { openSqlSink, openSqlSource, type SqlSinkOptions, type SqlSourceOptions } from "./open.js";
export { columnName, tableName, type TableName } from "./identifiers.js";
