// Retention (#14): tenants' policies, and the purge of a log's oldest events in bounded
// batches. A purge deletes only a prefix of the log and keeps each deleted event's leaf hash as
// a level-0 node in audit_tree_nodes, in the same transaction that deletes its row and moves the
// head's pruned_through, so the tree (and every checkpoint and proof) stays whole.
import type BetterSqlite3 from 'better-sqlite3';
import type { Knex } from 'knex';
import { eventLeafHash } from '../domain/leaf';
import { parseRetention, purgeablePrefix, type RetentionPolicy } from '../domain/retention';
import { translateErrors } from './errors';
import { type EventRow, fromRow, NODE_COLUMNS, type NodeRow, nodeValues, storedHash } from './rows';

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
   * retention), in one transaction that holds the tenant's head row locked and re-reads
   * pruned_through and the policy under the lock, so purgers running at once take turns: no
   * batch twice, no hole, and a legal hold set before the batch began is honoured.
   * PostgreSQL: SELECT … FOR UPDATE of the head row (the lock commits take). SQLite: BEGIN
   * IMMEDIATE (knex's transactions begin deferred, and a deferred one that reads first can fail
   * to upgrade), the whole batch one synchronous step on the main connection, so no lock is held
   * across a turn of the event loop; the wait for a commit in progress is busy_timeout's.
   */
  async purgeBatch(
    imsOrgId: string,
    now: number,
    defaultMs: number | undefined,
    maxEvents: number,
  ): Promise<PurgeBatch> {
    return translateErrors(() =>
      this.postgres
        ? this.purgePostgres(imsOrgId, now, defaultMs, maxEvents)
        : this.purgeSqlite(imsOrgId, now, defaultMs, maxEvents),
    );
  }

  private purgePostgres(imsOrgId: string, now: number, defaultMs: number | undefined, maxEvents: number) {
    return this.db.transaction(async (trx): Promise<PurgeBatch> => {
      const heads = () => trx('audit_log_heads').where({ ims_org_id: imsOrgId });
      const head = await heads().forUpdate().first<LockedHead | undefined>('seq', 'pruned_through');
      const policy = await trx<PolicyRow>('audit_retention_policies').where({ ims_org_id: imsOrgId }).first();
      const due = dueFrom(head, policy, defaultMs);
      if (!due) return { purged: 0, prunedThrough: Number(head?.pruned_through ?? 0) };
      const rows = await trx<EventRow>('audit_events')
        .where({ ims_org_id: imsOrgId })
        .andWhere('seq', '>', due.prunedThrough)
        .andWhere('seq', '<=', due.headSeq)
        .orderBy('seq')
        .limit(maxEvents);
      const plan = planPurge(imsOrgId, due, rows, now);
      if (plan.nodes.length === 0) return plan.result;
      // The leaves first: proofs of the remaining events need them once the rows are gone.
      await trx<NodeRow>('audit_tree_nodes').insert(plan.nodes);
      const deleted = await trx('audit_events')
        .where({ ims_org_id: imsOrgId })
        .andWhere('seq', '>', due.prunedThrough)
        .andWhere('seq', '<=', plan.result.prunedThrough)
        .delete();
      checkDeleted(imsOrgId, deleted, plan.nodes.length);
      await heads().update({ pruned_through: plan.result.prunedThrough });
      return plan.result;
    });
  }

  private async purgeSqlite(
    imsOrgId: string,
    now: number,
    defaultMs: number | undefined,
    maxEvents: number,
  ): Promise<PurgeBatch> {
    // knex's one SQLite connection, taken from its pool so nothing else uses it meanwhile.
    const client = this.db.client as {
      acquireConnection(): Promise<BetterSqlite3.Database>;
      releaseConnection(connection: BetterSqlite3.Database): Promise<void>;
    };
    const connection = await client.acquireConnection();
    try {
      const batch = connection.transaction((): PurgeBatch => {
        const head = connection
          .prepare<[string], LockedHead>('SELECT seq, pruned_through FROM audit_log_heads WHERE ims_org_id = ?')
          .get(imsOrgId);
        const policy = connection
          .prepare<[string], PolicyRow>('SELECT * FROM audit_retention_policies WHERE ims_org_id = ?')
          .get(imsOrgId);
        const due = dueFrom(head, policy, defaultMs);
        if (!due) return { purged: 0, prunedThrough: Number(head?.pruned_through ?? 0) };
        const rows = connection
          .prepare<[string, number, number, number], EventRow>(
            'SELECT * FROM audit_events WHERE ims_org_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?',
          )
          .all(imsOrgId, due.prunedThrough, due.headSeq, maxEvents);
        const plan = planPurge(imsOrgId, due, rows, now);
        if (plan.nodes.length === 0) return plan.result;
        const insertNode = connection.prepare(
          `INSERT INTO audit_tree_nodes (${NODE_COLUMNS.join(', ')}) VALUES (${NODE_COLUMNS.map(() => '?').join(', ')})`,
        );
        for (const node of plan.nodes) insertNode.run(...nodeValues(node));
        const { changes } = connection
          .prepare('DELETE FROM audit_events WHERE ims_org_id = ? AND seq > ? AND seq <= ?')
          .run(imsOrgId, due.prunedThrough, plan.result.prunedThrough);
        checkDeleted(imsOrgId, changes, plan.nodes.length);
        connection
          .prepare('UPDATE audit_log_heads SET pruned_through = ? WHERE ims_org_id = ?')
          .run(plan.result.prunedThrough, imsOrgId);
        return plan.result;
      });
      return batch.immediate();
    } finally {
      await client.releaseConnection(connection);
    }
  }
}

interface LockedHead {
  seq: number | string;
  pruned_through: number | string;
}

interface Due {
  prunedThrough: number;
  headSeq: number;
  retentionMs: number;
}

/** What the locked head and the policy say: whether anything may be purged, and after which seq. */
function dueFrom(
  head: LockedHead | undefined,
  row: PolicyRow | undefined,
  defaultMs: number | undefined,
): Due | undefined {
  if (!head) return undefined;
  const policy = row && fromPolicyRow(row);
  if (policy?.legalHold) return undefined;
  const retentionMs = policy ? retentionMsOf(policy.retention) : defaultMs;
  if (retentionMs === undefined) return undefined;
  return { prunedThrough: Number(head.pruned_through), headSeq: Number(head.seq), retentionMs };
}

/** Of the oldest unpurged rows, the prefix to purge, as the level-0 nodes that will keep their leaf hashes. */
function planPurge(
  imsOrgId: string,
  due: Due,
  rows: EventRow[],
  now: number,
): { nodes: NodeRow[]; result: PurgeBatch } {
  const { count, stoppedBy } = purgeablePrefix(
    due.prunedThrough,
    rows.map((row) => ({ row, seq: Number(row.seq), receivedAt: Number(row.received_at) })),
    now - due.retentionMs,
    ({ row }) => intact(row),
  );
  const nodes = rows
    .slice(0, count)
    .map((row) => ({ ims_org_id: imsOrgId, level: 0, idx: Number(row.seq) - 1, hash: row.leaf_hash }));
  return { nodes, result: { purged: count, prunedThrough: due.prunedThrough + count, stoppedBy } };
}

/** Rows read under the lock cannot have been deleted by anyone else: a mismatch is a bug, and rolls back. */
function checkDeleted(imsOrgId: string, deleted: number, expected: number): void {
  if (deleted !== expected) {
    throw new Error(`purge of ${JSON.stringify(imsOrgId)}: deleted ${deleted} rows, expected ${expected}`);
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
    return eventLeafHash(event, event.salts, event.erased) === row.leaf_hash;
  } catch {
    return false;
  }
}
