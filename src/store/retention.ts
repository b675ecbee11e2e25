// Retention (#14): tenants' policies, and the purge of a log's oldest events in bounded
// batches. A purge deletes only a prefix of the log and keeps each deleted event's leaf hash as
// a level-0 node in audit_tree_nodes, in the same transaction that deletes its row and moves the
// head's pruned_through, so the tree (and every checkpoint and proof) stays whole.
import type { Knex } from 'knex';
import { eventLeafHash } from '../domain/leaf';
import { parseRetention, purgeablePrefix, type RetentionPolicy } from '../domain/retention';
import { translateErrors } from './errors';
import { type EventRow, fromRow, type NodeRow, storedHash } from './rows';

interface PolicyRow {
  ims_org_id: string;
  retention: string | null;
  legal_hold: boolean | number;
  updated_at: number | string;
}

/** A tenant's policy as stored, if it has one, and how far its log has been pruned. */
export interface PolicyState {
  policy?: RetentionPolicy;
  prunedThrough: number;
}

/** What one purge batch did. */
export interface PurgeBatch {
  /** Events deleted by this batch (0: nothing was due, or the tenant is held or keeps forever). */
  purged: number;
  /** The tenant's pruned_through after the batch. */
  prunedThrough: number;
  /** The batch stopped before a due event it must not delete: a missing seq, or a row that no longer matches its leaf hash. */
  stoppedBy?: { seq: number; reason: 'gap' | 'edited' };
}

export class RetentionStore {
  constructor(
    private readonly db: Knex,
    private readonly postgres: boolean,
  ) {}

  async policy(imsOrgId: string): Promise<PolicyState> {
    return translateErrors(async () => {
      const [row, head] = await Promise.all([
        this.db<PolicyRow>('audit_retention_policies').where({ ims_org_id: imsOrgId }).first(),
        this.db('audit_log_heads')
          .where({ ims_org_id: imsOrgId })
          .first<{ pruned_through: number | string }>('pruned_through'),
      ]);
      return { policy: row && fromPolicyRow(row), prunedThrough: Number(head?.pruned_through ?? 0) };
    });
  }

  async setPolicy(imsOrgId: string, policy: RetentionPolicy, now = Date.now()): Promise<PolicyState> {
    await translateErrors(() =>
      this.db<PolicyRow>('audit_retention_policies')
        .insert({ ims_org_id: imsOrgId, retention: policy.retention, legal_hold: policy.legalHold, updated_at: now })
        .onConflict('ims_org_id')
        .merge(),
    );
    return this.policy(imsOrgId);
  }

  /**
   * Whether the tenant's oldest unpurged event looks due (read without a lock or a write, so a
   * round over many tenants that keep forever, or are held, writes nothing). purgeBatch decides
   * again under the lock.
   */
  async due(imsOrgId: string, now: number, defaultMs: number | undefined): Promise<boolean> {
    return translateErrors(async () => {
      const { policy, prunedThrough } = await this.policy(imsOrgId);
      if (policy?.legalHold) return false;
      const retentionMs = policy ? retentionMsOf(policy.retention) : defaultMs;
      if (retentionMs === undefined) return false;
      const oldest = await this.db<EventRow>('audit_events')
        .where({ ims_org_id: imsOrgId })
        .andWhere('seq', '>', prunedThrough)
        .orderBy('seq')
        .first('received_at');
      return oldest !== undefined && Number(oldest.received_at) < now - retentionMs;
    });
  }

  /**
   * Purges at most `maxEvents` of the tenant's oldest events received before `now` minus its
   * retention (its policy's, else `defaultMs`; nothing under a legal hold or without a
   * retention), in one transaction that holds the tenant's head row locked: on PostgreSQL
   * SELECT … FOR UPDATE, so instances purging at once take turns and each re-reads
   * pruned_through under the lock (no batch twice, no hole); on SQLite a write to the head row as
   * the transaction's first statement, which takes the database's write lock up front as BEGIN
   * IMMEDIATE would (knex opens with a deferred BEGIN), waiting out a commit within busy_timeout.
   */
  async purgeBatch(
    imsOrgId: string,
    now: number,
    defaultMs: number | undefined,
    maxEvents: number,
  ): Promise<PurgeBatch> {
    return translateErrors(() =>
      this.db.transaction(async (trx) => {
        const heads = () => trx('audit_log_heads').where({ ims_org_id: imsOrgId });
        if (this.postgres) {
          await heads().forUpdate().first('ims_org_id');
        } else {
          await heads().update({ pruned_through: trx.raw('pruned_through') });
        }
        const head = await heads().first<{ seq: number | string; pruned_through: number | string } | undefined>(
          'seq',
          'pruned_through',
        );
        if (!head) return { purged: 0, prunedThrough: 0 };
        const prunedThrough = Number(head.pruned_through);
        const nothing = { purged: 0, prunedThrough };
        // The policy is read under the lock too: a legal hold set before this batch began is honoured.
        const row = await trx<PolicyRow>('audit_retention_policies').where({ ims_org_id: imsOrgId }).first();
        const policy = row && fromPolicyRow(row);
        if (policy?.legalHold) return nothing;
        const retentionMs = policy ? retentionMsOf(policy.retention) : defaultMs;
        if (retentionMs === undefined) return nothing;
        const rows = await trx<EventRow>('audit_events')
          .where({ ims_org_id: imsOrgId })
          .andWhere('seq', '>', prunedThrough)
          .andWhere('seq', '<=', Number(head.seq))
          .orderBy('seq')
          .limit(maxEvents);
        const { count, stoppedBy } = purgeablePrefix(
          prunedThrough,
          rows.map((r) => ({ row: r, seq: Number(r.seq), receivedAt: Number(r.received_at) })),
          now - retentionMs,
          ({ row: r }) => intact(r),
        );
        if (count === 0) return { ...nothing, stoppedBy };
        const purged = rows.slice(0, count);
        const through = prunedThrough + count;
        // The leaves first: proofs of the remaining events need them once the rows are gone.
        await trx<NodeRow>('audit_tree_nodes').insert(
          purged.map((r) => ({ ims_org_id: imsOrgId, level: 0, idx: Number(r.seq) - 1, hash: r.leaf_hash })),
        );
        const deleted = await trx('audit_events')
          .where({ ims_org_id: imsOrgId })
          .andWhere('seq', '>', prunedThrough)
          .andWhere('seq', '<=', through)
          .delete();
        // Read under the lock, so nothing else can have deleted them: anything else is a bug, and rolls back.
        if (deleted !== count) throw new Error(`purge of ${imsOrgId}: deleted ${deleted} rows, expected ${count}`);
        await heads().update({ pruned_through: through });
        return { purged: count, prunedThrough: through, stoppedBy };
      }),
    );
  }
}

function fromPolicyRow(row: PolicyRow): RetentionPolicy {
  return { retention: row.retention, legalHold: Boolean(row.legal_hold) };
}

/** A stored retention in ms; undefined keeps forever (null, or text no longer accepted). */
function retentionMsOf(retention: string | null): number | undefined {
  if (retention === null) return undefined;
  const parsed = parseRetention(retention);
  return 'ms' in parsed ? parsed.ms : undefined;
}

/** Whether the row still gives its stored leaf hash: only that hash will remain of it. */
function intact(row: EventRow): boolean {
  if (!storedHash(row.leaf_hash)) return false;
  try {
    const event = fromRow(row);
    return eventLeafHash(event, event.salts) === row.leaf_hash;
  } catch {
    return false;
  }
}
