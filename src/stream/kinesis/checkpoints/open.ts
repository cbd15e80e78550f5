import path from "node:path";
import { DEFAULT_DATA_DIR } from "../../../registry/store/open-store.js";
import type { LeaseDatabase } from "./database.js";
import { openPostgresLeases } from "./postgres.js";
import { openSqliteLeases } from "./sqlite.js";

/** The default checkpoint file's name, in the data dir next to the registry's SQLite file. */
export const DEFAULT_CHECKPOINT_FILE = "kinesis-checkpoints.db";

/**
 * Opens the store a `?checkpoints=` setting names: `sqlite:<file>` (also `sqlite:///abs`),
 * `postgres://…[?schema=name]`, or, unset, `<data dir>/kinesis-checkpoints.db` where the
 * data dir is the registry's (`--data-dir`, MLDEPLOY_DATA_DIR or ./mldeploy-data). A file of its own
 * rather than the registry's database: the registry may be a remote registry-server, and
 * checkpoints are written on every batch, which the registry's store is not built for.
 */
export async function openLeaseDatabase(
  url: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  dataDirSetting?: string,
): Promise<LeaseDatabase> {
  if (url === undefined) {
    const dataDir = dataDirSetting ?? (env.MLDEPLOY_DATA_DIR?.trim() || DEFAULT_DATA_DIR);
    return openSqliteLeases(path.join(dataDir, DEFAULT_CHECKPOINT_FILE));
  }
  if (url.startsWith("sqlite:")) {
    const rest = url.slice("sqlite:".length);
    return openSqliteLeases(rest.startsWith("//") ? rest.slice(2) : rest);
  }
  return openPostgresLeases(url);
}
