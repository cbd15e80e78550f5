export type FileFormat = "parquet" | "csv";

/** A file's format from its extension, or undefined when the extension says nothing. */
export function formatFromPath(file: string): FileFormat | undefined {
  if (/\.(csv|tsv)(\.gz|\.zst)?$/i.test(file)) return "csv";
  if (/\.parquet$/i.test(file)) return "parquet";
  return undefined;
}
