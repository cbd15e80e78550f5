import {
  DELETE_STALE_AFTER_MS,
  followedBy,
  isLagging,
  STALE_AFTER_INTERVALS,
  validateDeploymentId,
  validateHeartbeat,
} from "./deployment-rules.js";
import type { SqlDatabase, SqlInt } from "./sql-database.js";
import type { Deployment, DeploymentHeartbeat, DeploymentMode, DeploymentStore } from "./types.js";

interface DeploymentRow {
  id: string;
  mode: string;
  host: string;
  pid: SqlInt;
  endpoint: string;
  model_uri: string;
  model_name: string | null;
  model_version: string | null;
  follows: string | null;
  version_since: SqlInt;
  started_at: SqlInt;
  rate: number;
  interval_ms: SqlInt;
  last_beat_at: SqlInt;
  target_version: SqlInt | null;
}

const COLUMNS = [
  "id",
  "mode",
  "host",
  "pid",
  "endpoint",
  "model_uri",
  "model_name",
  "model_version",
  "follows",
  "version_since",
  "started_at",
  "rate",
  "interval_ms",
  "last_beat_at",
];

/**
 * Deployment heartbeats over SQL, shared by SQLite and PostgreSQL. The version an alias points
 * at is joined in when listing, so the lag is always against the alias as it is now.
 */
export class SqlDeploymentStore implements DeploymentStore {
  constructor(private readonly db: SqlDatabase) {}

  async reportDeployment(heartbeat: DeploymentHeartbeat): Promise<void> {
    const beat = validateHeartbeat(heartbeat);
    const followed = followedBy(beat.modelUri);
    const now = Date.now();
    const values = [
      beat.id,
      beat.mode,
      beat.host,
      beat.pid,
      beat.endpoint,
      beat.modelUri,
      followed?.name ?? beat.modelName,
      beat.modelVersion,
      followed?.follows ?? null,
      beat.versionSince,
      beat.startedAt,
      beat.rate,
      beat.intervalMs,
      now,
    ];
    const updates = COLUMNS.slice(1)
      .map((column) => `${column} = excluded.${column}`)
      .join(", ");
    await this.db.write(async (tx) => {
      await tx.run(
        `INSERT INTO deployments (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map(() => "?").join(", ")}) ` +
          `ON CONFLICT (id) DO UPDATE SET ${updates}`,
        values,
      );
      // Processes killed without a goodbye leave rows behind: the beats of the living sweep them.
      await tx.run(
        `DELETE FROM deployments WHERE last_beat_at + ${STALE_AFTER_INTERVALS} * interval_ms < ?`,
        [now - DELETE_STALE_AFTER_MS],
      );
    });
  }

  async listDeployments(): Promise<Deployment[]> {
    const rows = await this.db.read((q) =>
      q.query<DeploymentRow>(
        `SELECT ${COLUMNS.map((c) => `d.${c}`).join(", ")}, ` +
          "CASE WHEN d.follows = 'latest' THEN m.last_version ELSE a.version END AS target_version " +
          "FROM deployments d " +
          "LEFT JOIN model_aliases a ON a.name = d.model_name AND a.alias = d.follows " +
          "LEFT JOIN registered_models m ON m.name = d.model_name " +
          `WHERE d.last_beat_at + ${STALE_AFTER_INTERVALS} * d.interval_ms >= ? ` +
          "ORDER BY d.started_at DESC, d.id",
        [Date.now()],
      ),
    );
    return rows.map(deploymentOf);
  }

  async removeDeployment(id: string): Promise<void> {
    validateDeploymentId(id);
    await this.db.write((tx) => tx.run("DELETE FROM deployments WHERE id = ?", [id]));
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

function deploymentOf(row: DeploymentRow): Deployment {
  // "latest" of a model without versions yet (last_version 0) points at nothing.
  const target =
    row.target_version === null || Number(row.target_version) === 0
      ? null
      : Number(row.target_version);
  return {
    id: row.id,
    mode: row.mode as DeploymentMode,
    host: row.host,
    pid: Number(row.pid),
    endpoint: row.endpoint,
    modelUri: row.model_uri,
    modelName: row.model_name,
    modelVersion: row.model_version,
    versionSince: Number(row.version_since),
    startedAt: Number(row.started_at),
    rate: row.rate,
    intervalMs: Number(row.interval_ms),
    lastBeatAt: Number(row.last_beat_at),
    follows: row.follows,
    targetVersion: target,
    lagging: isLagging(row.model_version, target),
  };
}
