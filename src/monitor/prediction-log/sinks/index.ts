/**
 * Opt-in sinks of the prediction log (--log-predictions-to): finished parts copied to an S3
 * prefix or a PostgreSQL table, the local directory staying the buffer; and the way back, a
 * window of the log materialized as local part files for `mldeploy monitor`.
 */
import type { Logger } from "../../../log/logger.js";
import { CatchingUpPublisher, type CatchUpOptions } from "./catch-up.js";
import { PostgresPartTarget } from "./postgres.js";
import { S3PartTarget } from "./s3.js";
import { parseSinkUrl } from "./url.js";

export {
  CatchingUpPublisher,
  listLocalParts,
  type CatchUpOptions,
  type CatchUpResult,
  type LocalPart,
  type PartTarget,
  type PublisherStats,
} from "./catch-up.js";
export {
  materializeLogWindow,
  type LogWindowQuery,
  type MaterializedWindow,
} from "./materialize.js";
export { DEFAULT_TABLE, parseSinkUrl, type SinkTarget, type TableName } from "./url.js";

/**
 * The publisher for `url` (s3://bucket/prefix or postgres://…?table=…), catching up the
 * parts left in `dir` by earlier runs. Nothing connects before the first copy.
 */
export function openPartPublisher(
  url: string,
  options: Omit<CatchUpOptions, "logger"> & { logger: Logger },
): CatchingUpPublisher {
  const target = parseSinkUrl(url);
  const sink =
    target.kind === "s3"
      ? new S3PartTarget(target.uri)
      : new PostgresPartTarget({
          connection: target.connection,
          table: target.table,
          description: target.description,
        });
  return new CatchingUpPublisher(sink, options);
}
