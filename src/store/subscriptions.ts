import type { Knex } from 'knex';
import type { components } from '../../generated/openapi';
import { uuidv7 } from '../domain/ids';
import { translateErrors } from './errors';

export type Subscription = components['schemas']['Subscription'];
export type SubscriptionFormat = Subscription['format'];

interface SubscriptionRow {
  ims_org_id: string;
  id: string;
  url: string;
  format: SubscriptionFormat;
  secret: string;
  created_at: number | string;
  last_delivered_seq: number | string;
  batch_end_seq: number | string | null;
  attempts: number;
  failing_since: number | string | null;
  next_attempt_at: number | string;
  last_error: string | null;
  lease_owner: string | null;
  lease_expires_at: number | string | null;
}

/** What a deliverer needs of a subscription it holds the lease on. */
export interface DueSubscription {
  id: string;
  imsOrgId: string;
  url: string;
  format: SubscriptionFormat;
  secret: string;
  lastDeliveredSeq: number;
  /** The end of the batch being retried, if one failed; the retry sends exactly it again. */
  batchEndSeq: number | undefined;
  attempts: number;
  failingSince: number | undefined;
}

export type AttemptOutcome =
  | { ok: true; lastSeq: number }
  | { ok: false; batchEndSeq: number; error: string; nextAttemptAt: number; failing: boolean; failingSince: number };

const TABLE = 'webhook_subscriptions';
const num = (value: number | string) => Number(value);

/** Webhook subscriptions: their rows, their delivery cursors, and the leases that give each one deliverer. */
export class SubscriptionStore {
  constructor(
    private readonly db: Knex,
    private readonly failingAfterMs: number,
  ) {}

  async create(input: {
    imsOrgId: string;
    url: string;
    format: SubscriptionFormat;
    fromSeq: number;
    secret: string;
  }): Promise<Subscription> {
    const now = Date.now();
    const row: SubscriptionRow = {
      ims_org_id: input.imsOrgId,
      id: uuidv7(now),
      url: input.url,
      format: input.format,
      secret: input.secret,
      created_at: now,
      last_delivered_seq: input.fromSeq - 1,
      batch_end_seq: null,
      attempts: 0,
      failing_since: null,
      next_attempt_at: now,
      last_error: null,
      lease_owner: null,
      lease_expires_at: null,
    };
    await translateErrors(() => this.db(TABLE).insert(row));
    return (await this.get(row.id))!;
  }

  async list(imsOrgId: string): Promise<Subscription[]> {
    const rows = await translateErrors(() =>
      this.db<SubscriptionRow>(TABLE).where('ims_org_id', imsOrgId).orderBy('id'),
    );
    return this.withLag(rows);
  }

  async get(id: string): Promise<Subscription | undefined> {
    const row = await translateErrors(() => this.db<SubscriptionRow>(TABLE).where('id', id).first());
    return row && (await this.withLag([row]))[0];
  }

  async delete(id: string): Promise<void> {
    await translateErrors(() => this.db(TABLE).where('id', id).delete());
  }

  /** Due now, with the backoff cleared (the status turns active at the next success). */
  async resume(id: string): Promise<void> {
    await translateErrors(() => this.db(TABLE).where('id', id).update({ next_attempt_at: Date.now(), attempts: 0 }));
  }

  /**
   * The due subscriptions this instance holds or can take, up to `limit`, each leased to
   * `owner` for at least `minRemainingMs` more. A lease is taken or extended by one conditional
   * UPDATE (compare-and-set on the lease columns), so of several instances exactly one wins a
   * row, on SQLite and PostgreSQL alike; a lease still long enough is used without a write (on
   * SQLite every write is a transaction with an fsync, which ingest would pay for).
   */
  async claimDue(owner: string, leaseMs: number, minRemainingMs: number, limit: number): Promise<DueSubscription[]> {
    return translateErrors(async () => {
      const now = Date.now();
      const free = (q: Knex.QueryBuilder): void => {
        q.whereNull('lease_owner').orWhere('lease_expires_at', '<', now).orWhere('lease_owner', owner);
      };
      const candidates = await this.db<SubscriptionRow>(TABLE)
        .where('next_attempt_at', '<=', now)
        .where(free)
        .orderBy('next_attempt_at')
        .limit(limit);
      const claimed: DueSubscription[] = [];
      for (const row of candidates) {
        const held = row.lease_owner === owner && num(row.lease_expires_at ?? 0) - now >= minRemainingMs;
        if (!held) {
          const taken = await this.db(TABLE)
            .where('id', row.id)
            .where(free)
            .update({ lease_owner: owner, lease_expires_at: now + leaseMs });
          if (taken !== 1) continue;
        }
        claimed.push(due(row));
      }
      return claimed;
    });
  }

  /**
   * Records an attempt, keeping the lease for `leaseMs` more. Only the lease holder records: a
   * deliverer that lost its lease (it stalled past the expiry) changes nothing, and the cursor
   * never moves back.
   */
  async record(owner: string, subscription: DueSubscription, outcome: AttemptOutcome, leaseMs: number): Promise<void> {
    const now = Date.now();
    const update = outcome.ok
      ? {
          last_delivered_seq: outcome.lastSeq,
          batch_end_seq: null,
          attempts: 0,
          failing_since: null,
          last_error: null,
          next_attempt_at: now,
        }
      : {
          batch_end_seq: outcome.batchEndSeq,
          attempts: subscription.attempts + 1,
          failing_since: outcome.failingSince,
          last_error: outcome.error,
          next_attempt_at: outcome.nextAttemptAt,
        };
    await translateErrors(() =>
      this.db(TABLE)
        .where({ id: subscription.id, lease_owner: owner })
        .update({ ...update, lease_expires_at: now + leaseMs }),
    );
  }

  /** Gives up every lease `owner` holds (graceful shutdown: another instance takes over at once). */
  async releaseAll(owner: string): Promise<void> {
    await translateErrors(() =>
      this.db(TABLE).where('lease_owner', owner).update({ lease_owner: null, lease_expires_at: null }),
    );
  }

  private async withLag(rows: SubscriptionRow[]): Promise<Subscription[]> {
    const orgs = [...new Set(rows.map((row) => row.ims_org_id))];
    const heads = new Map<string, number>();
    if (orgs.length > 0) {
      const headRows: { ims_org_id: string; seq: number | string }[] = await translateErrors(() =>
        this.db('audit_log_heads').whereIn('ims_org_id', orgs).select('ims_org_id', 'seq'),
      );
      for (const head of headRows) heads.set(head.ims_org_id, num(head.seq));
    }
    return rows.map((row) => {
      const failingSince = row.failing_since === null ? undefined : num(row.failing_since);
      return {
        id: row.id,
        imsOrgId: row.ims_org_id,
        url: row.url,
        format: row.format,
        createdAt: new Date(num(row.created_at)).toISOString(),
        status: failingSince !== undefined && Date.now() - failingSince >= this.failingAfterMs ? 'failing' : 'active',
        lastDeliveredSeq: num(row.last_delivered_seq),
        lagEvents: Math.max(0, (heads.get(row.ims_org_id) ?? 0) - num(row.last_delivered_seq)),
        lastError: row.last_error,
        nextAttemptAt: new Date(num(row.next_attempt_at)).toISOString(),
      };
    });
  }
}

function due(row: SubscriptionRow): DueSubscription {
  return {
    id: row.id,
    imsOrgId: row.ims_org_id,
    url: row.url,
    format: row.format,
    secret: row.secret,
    lastDeliveredSeq: num(row.last_delivered_seq),
    batchEndSeq: row.batch_end_seq === null ? undefined : num(row.batch_end_seq),
    attempts: row.attempts,
    failingSince: row.failing_since === null ? undefined : num(row.failing_since),
  };
}
