import { JoinedStore } from "./joined-store.js";
import type { SqlDatabase } from "./sql-database.js";
import { SqlDeploymentStore } from "./sql-deployment-store.js";
import { SqlMonitorResultStore } from "./sql-monitor-result-store.js";
import { SqlModelRegistryStore } from "./sql-model-registry-store.js";
import { SqlTrackingStore, type SqlTrackingStoreOptions } from "./sql-tracking-store.js";

export type SqlStoreOptions = SqlTrackingStoreOptions;

/**
 * The registry store of one SQL database, shared by SQLite and PostgreSQL: its tracking store
 * and its model-registry store, joined. The subclasses only open the database and migrate it.
 */
export class SqlStore extends JoinedStore {
  /** Where experiments created without an artifact location put their runs (normalized). */
  readonly artifactRoot: string;

  protected constructor(db: SqlDatabase, options: SqlStoreOptions) {
    const tracking = new SqlTrackingStore(db, options);
    super(
      tracking,
      new SqlModelRegistryStore(db, options.description),
      () => db.close(),
      new SqlDeploymentStore(db),
      new SqlMonitorResultStore(db),
    );
    this.artifactRoot = tracking.artifactRoot;
  }
}
