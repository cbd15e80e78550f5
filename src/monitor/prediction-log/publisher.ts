/**
 * Where finished part files go besides (or instead of) the local directory: an S3 prefix or a
 * PostgreSQL table (prediction-log/sinks/). The writer hands each part over once it is
 * complete and renamed into place; the publisher copies it out and says whether the local file
 * may be removed.
 */
export interface PartFile {
  /** Absolute path of the finished part (<dir>/<model>/<yyyy-mm-dd>/<name>.parquet). */
  file: string;
  /** The part's path under the log's root, with "/" separators (<model>/<yyyy-mm-dd>/<name>.parquet). */
  key: string;
  model: string;
  version: string;
  rows: number;
}

export interface PartPublisher {
  /** For logs and errors: "s3://bucket/prefix", "postgres://host/db table prediction_log". */
  readonly target: string;
  /**
   * Copies the part out. Resolves true when the local copy is no longer needed. Throws when it
   * could not be copied (the writer keeps the local file, logs and counts the failure).
   */
  publish(part: PartFile): Promise<boolean>;
  close(): Promise<void>;
}
