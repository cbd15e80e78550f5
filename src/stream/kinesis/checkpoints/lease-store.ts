import type { ShardInfo } from "../stream-admin.js";
import type { LeaseDatabase } from "./database.js";

/**
 * Shard leases and checkpoints of one consumer group on one stream, KCL-style: a row per
 * shard with its owner, an expiry, a counter bumped by every take and renewal, and the
 * checkpoint (the last acknowledged sequence number).
 *
 * Every change is one conditional statement, so it is atomic without transactions:
 * - take: only if the counter is still the one seen when deciding (a renewal or another
 *   taker in between bumps it and the take fails), so two consumers never both win a lease;
 * - renew, checkpoint, release: only where the owner is still us. A consumer whose lease was
 *   taken cannot move the checkpoint any more (fencing); its last batch is simply predicted
 *   again by the new owner (at-least-once).
 */
export interface Lease {
  shardId: string;
  parents: string[];
  owner: string | null;
  counter: number;
  /** Epoch ms on the database's clock; 0 = released. */
  expiresAt: number;
  /** Last acknowledged sequence number; null = nothing yet (read from TRIM_HORIZON). */
  checkpoint: string | null;
  /** The shard is closed (resharding) and every record of it was acknowledged. */
  finished: boolean;
}

interface LeaseRow {
  shard_id: string;
  parent_ids: string;
  owner: string | null;
  lease_counter: number | string;
  expires_at: number | string;
  checkpoint: string | null;
  finished: number | string;
}

export class LeaseStore {
  readonly description: string;

  constructor(
    private readonly db: LeaseDatabase,
    private readonly streamKey: string,
    private readonly group: string,
  ) {
    this.description = db.description;
  }

  /** Adds a free lease for each shard not seen before (idempotent; existing rows untouched). */
  async addShards(shards: readonly ShardInfo[]): Promise<void> {
    const { db } = this;
    for (const shard of shards) {
      await db.run(
        `INSERT INTO ${db.table} (stream_key, group_name, shard_id, parent_ids, owner,
           lease_counter, expires_at, checkpoint, finished, updated_at)
         VALUES (?, ?, ?, ?, NULL, 0, 0, NULL, 0, ${db.nowMs})
         ON CONFLICT (stream_key, group_name, shard_id) DO NOTHING`,
        [this.streamKey, this.group, shard.shardId, shard.parents.join(",")],
      );
    }
  }

  /** Every lease of the group, and the database's clock to judge their expiry by. */
  async list(): Promise<{ now: number; leases: Lease[] }> {
    const { db } = this;
    const rows = await db.query<LeaseRow>(
      `SELECT shard_id, parent_ids, owner, lease_counter, expires_at, checkpoint, finished
       FROM ${db.table} WHERE stream_key = ? AND group_name = ? ORDER BY shard_id`,
      [this.streamKey, this.group],
    );
    const [clock] = await db.query<{ now: number | string }>(`SELECT ${db.nowMs} AS now`);
    return {
      now: Number(clock.now),
      leases: rows.map((row) => ({
        shardId: row.shard_id,
        parents: row.parent_ids === "" ? [] : row.parent_ids.split(","),
        owner: row.owner,
        counter: Number(row.lease_counter),
        expiresAt: Number(row.expires_at),
        checkpoint: row.checkpoint,
        finished: Number(row.finished) === 1,
      })),
    };
  }

  /**
   * Takes the lease if nobody renewed or took it since `seen` was read; returns it as now
   * held (with its checkpoint), or undefined when someone else was faster.
   */
  async take(seen: Lease, owner: string, leaseMs: number): Promise<Lease | undefined> {
    const { db } = this;
    const rows = await db.query<{ checkpoint: string | null; lease_counter: number | string }>(
      `UPDATE ${db.table}
       SET owner = ?, lease_counter = lease_counter + 1, expires_at = ${db.nowMs} + ?,
           updated_at = ${db.nowMs}
       WHERE stream_key = ? AND group_name = ? AND shard_id = ? AND lease_counter = ?
         AND finished = 0
       RETURNING checkpoint, lease_counter`,
      [owner, leaseMs, this.streamKey, this.group, seen.shardId, seen.counter],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    return { ...seen, owner, counter: Number(row.lease_counter), checkpoint: row.checkpoint };
  }

  /** Extends our leases; returns the shard ids still ours (the others were taken over). */
  async renew(owner: string, shardIds: readonly string[], leaseMs: number): Promise<Set<string>> {
    if (shardIds.length === 0) return new Set();
    const { db } = this;
    const rows = await db.query<{ shard_id: string }>(
      `UPDATE ${db.table}
       SET lease_counter = lease_counter + 1, expires_at = ${db.nowMs} + ?
       WHERE stream_key = ? AND group_name = ? AND owner = ?
         AND shard_id IN (${shardIds.map(() => "?").join(", ")})
       RETURNING shard_id`,
      [leaseMs, this.streamKey, this.group, owner, ...shardIds],
    );
    return new Set(rows.map((row) => row.shard_id));
  }

  /**
   * Records the last acknowledged sequence number (and, at the end of a closed shard, that it
   * is finished); false when the lease is no longer ours and nothing was written.
   */
  async checkpoint(
    owner: string,
    shardId: string,
    sequence: string | null,
    finished: boolean,
  ): Promise<boolean> {
    const { db } = this;
    const changed = await db.run(
      `UPDATE ${db.table}
       SET checkpoint = COALESCE(?, checkpoint), finished = ?, updated_at = ${db.nowMs}
       WHERE stream_key = ? AND group_name = ? AND shard_id = ? AND owner = ?`,
      [sequence, finished ? 1 : 0, this.streamKey, this.group, shardId, owner],
    );
    return changed > 0;
  }

  /** Gives leases up at once (clean shutdown), so others need not wait for them to expire. */
  async release(owner: string, shardIds: readonly string[]): Promise<void> {
    if (shardIds.length === 0) return;
    const { db } = this;
    await db.run(
      `UPDATE ${db.table}
       SET owner = NULL, lease_counter = lease_counter + 1, expires_at = 0,
           updated_at = ${db.nowMs}
       WHERE stream_key = ? AND group_name = ? AND owner = ?
         AND shard_id IN (${shardIds.map(() => "?").join(", ")})`,
      [this.streamKey, this.group, owner, ...shardIds],
    );
  }
}
