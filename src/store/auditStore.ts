import type { Knex } from 'knex';
import { v7 as uuidv7 } from 'uuid';
import type { components } from '../../generated/openapi';
import { formatInstant, parseInstant } from '../http/instant';
import { chainHash, GENESIS_HASH } from './chain';
import { isPostgres } from './db';
import { translateErrors } from './errors';

type AuditEvent = components['schemas']['AuditEvent'];
type StoredAuditEvent = components['schemas']['StoredAuditEvent'];

interface EventRow {
  id: string;
  ims_org_id: string;
  seq: number | string;
  action: string;
  source: string;
  service_id: string;
  resource_id: string;
  user_identifier: string;
  occurred_at: number | string;
  received_at: number | string;
  tags: string | Record<string, string> | null;
  hash: string;
}

/** Occupancy of the database connection pool. */
export interface PoolStats {
  used: number;
  free: number;
  /** Queries waiting for a connection. */
  pendingAcquires: number;
}

interface ChainHead {
  seq: number;
  hash: string;
}

// Rows per INSERT statement: 12 bound values each stays far below both databases' parameter limits.
const INSERT_CHUNK = 500;

/** The only code that speaks SQL about audit events. */
export class AuditStore {
  private readonly postgres: boolean;

  constructor(private readonly db: Knex) {
    this.postgres = isPostgres(db);
  }

  async migrate(): Promise<void> {
    await this.db.migrate.latest();
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }

  /** Answers when the database answers a trivial query. */
  async ping(): Promise<void> {
    await translateErrors(() => this.db.raw('select 1'));
  }

  poolStats(): PoolStats {
    // knex drops its pool on destroy(); a scrape after close() reads an empty pool.
    const pool = this.db.client.pool as
      | { numUsed(): number; numFree(): number; numPendingAcquires(): number }
      | undefined;
    if (!pool) return { used: 0, free: 0, pendingAcquires: 0 };
    return { used: pool.numUsed(), free: pool.numFree(), pendingAcquires: pool.numPendingAcquires() };
  }

  /**
   * Events accepted but not yet written. Each append is its own transaction, so nothing
   * waits today; a group-commit writer reports the length of its queue here.
   */
  writeQueueDepth(): number {
    return 0;
  }

  /**
   * Appends events to their tenants' chains in one transaction: all are committed, in input
   * order, or none is. Resolves only after the commit.
   */
  async append(events: AuditEvent[]): Promise<StoredAuditEvent[]> {
    return translateErrors(() =>
      this.db.transaction(async (trx) => {
        const heads = await this.lockHeads(trx, events.map((event) => event.imsOrgId));
        const receivedAt = formatInstant(Date.now());
        const stored = events.map((event) => {
          const head = heads.get(event.imsOrgId)!;
          const unhashed = { ...normalise(event), id: uuidv7(), receivedAt, seq: head.seq + 1 };
          const linked: StoredAuditEvent = { ...unhashed, hash: chainHash(unhashed, head.hash) };
          heads.set(event.imsOrgId, { seq: linked.seq, hash: linked.hash });
          return linked;
        });
        const rows = stored.map((event) => this.toRow(event));
        for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
          await trx('audit_events').insert(rows.slice(i, i + INSERT_CHUNK));
        }
        for (const [imsOrgId, head] of heads) {
          await trx('audit_chain_heads').where({ ims_org_id: imsOrgId }).update({ seq: head.seq, hash: head.hash });
        }
        return stored;
      }),
    );
  }

  async get(id: string): Promise<StoredAuditEvent | undefined> {
    const row = await translateErrors(() => this.db<EventRow>('audit_events').where({ id }).first());
    return row && this.fromRow(row);
  }

  /**
   * The current heads of the given tenants' chains, created at seq 0 where missing. On
   * PostgreSQL the rows stay locked until the transaction ends, so concurrent writers (in
   * this process or another instance) extend each chain one after another. Locks are taken
   * in org order so two writers never wait on each other in a cycle. SQLite needs no lock:
   * it has one writer at a time.
   */
  private async lockHeads(trx: Knex.Transaction, imsOrgIds: string[]): Promise<Map<string, ChainHead>> {
    const orgs = [...new Set(imsOrgIds)].sort();
    await trx('audit_chain_heads')
      .insert(orgs.map((org) => ({ ims_org_id: org, seq: 0, hash: GENESIS_HASH })))
      .onConflict('ims_org_id')
      .ignore();
    const query = trx('audit_chain_heads').whereIn('ims_org_id', orgs).orderBy('ims_org_id');
    const rows: { ims_org_id: string; seq: number | string; hash: string }[] = await (this.postgres
      ? query.forUpdate()
      : query);
    return new Map(rows.map((row) => [row.ims_org_id, { seq: Number(row.seq), hash: row.hash }]));
  }

  private toRow(event: StoredAuditEvent): EventRow {
    return {
      id: event.id,
      ims_org_id: event.imsOrgId,
      seq: event.seq,
      action: event.action,
      source: event.source,
      service_id: event.service.serviceId,
      resource_id: event.resource.resourceId,
      user_identifier: event.userIdentifier,
      occurred_at: parseInstant(event.timestamp)!,
      received_at: parseInstant(event.receivedAt)!,
      tags: event.tags === undefined ? null : this.postgres ? event.tags : JSON.stringify(event.tags),
      hash: event.hash,
    };
  }

  private fromRow(row: EventRow): StoredAuditEvent {
    const tags = typeof row.tags === 'string' ? JSON.parse(row.tags) : row.tags;
    return {
      id: row.id,
      imsOrgId: row.ims_org_id,
      seq: Number(row.seq),
      action: row.action,
      source: row.source,
      service: { serviceId: row.service_id },
      resource: { resourceId: row.resource_id },
      userIdentifier: row.user_identifier,
      timestamp: formatInstant(Number(row.occurred_at)),
      receivedAt: formatInstant(Number(row.received_at)),
      ...(tags !== null && { tags }),
      hash: row.hash,
    };
  }
}

/** The event as it is stored and hashed: the timestamp in its canonical UTC form, no extra fields. */
function normalise(event: AuditEvent): AuditEvent {
  const instant = parseInstant(event.timestamp);
  if (instant === undefined) throw new Error(`unvalidated timestamp reached the store: ${event.timestamp}`);
  return {
    action: event.action,
    imsOrgId: event.imsOrgId,
    resource: { resourceId: event.resource.resourceId },
    service: { serviceId: event.service.serviceId },
    source: event.source,
    timestamp: formatInstant(instant),
    userIdentifier: event.userIdentifier,
    ...(event.tags !== undefined && { tags: { ...event.tags } }),
  };
}
