import type { RowIds } from "../monitor/prediction-log/writer.js";
import { isPlainObject } from "../model/validate.js";

/**
 * How a request's rows are named in the prediction log: each row's `idField` (--log-id-field)
 * when the request sends one (the key actuals are joined on later), else the request's own id
 * (X-Request-Id, a V2 request's "id"); undefined lets the log draw a random one.
 */
export function predictionIds(
  records: ReadonlyArray<unknown>,
  idField: string,
  requestId: unknown,
): RowIds | undefined {
  let found = false;
  const rides = records.map((record) => {
    const id = isPlainObject(record) ? record[idField] : undefined;
    if (typeof id === "string" || typeof id === "number") {
      found = true;
      return String(id);
    }
    return undefined;
  });
  if (found) return rides;
  return typeof requestId === "string" && requestId !== "" ? requestId : undefined;
}
