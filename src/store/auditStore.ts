import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { v7 as uuidv7 } from 'uuid';
import type { components } from '../../generated/openapi';
import { formatInstant, parseInstant } from '../http/instant';
import { chainHash, GENESIS_HASH } from './chain';
import { isPostgres } from './db';
import { translateErrors } from './errors';
import { DIGEST_INDEXED_COLUMNS } from './migrations/20261126000000_add_read_indexes';

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

/** What a read selects: one tenant's events, narrowed by every filter that is set (all must match). */
export interface EventFilter {
  imsOrgId: string;
  action?: string;
  source?: string;
  serviceId?: string;
  resourceId?: string;
  userIdentifier?: string;
  /** Epoch milliseconds, inclusive. */
  from?: number;
  /** Epoch milliseconds, exclusive. */
  to?: number;
  /** [key, value] pairs that must each be among the event's tags. */
  tags?: [string, string][];
}

/** A place in a tenant's events in (occurred_at, id) order: where a page ended. */
export interface Position {
  occurredAt: number;
  id: string;
}

export interface Page {
  /** Newest first. */
  items: StoredAuditEvent[];
  /** Where the next page starts; undefined when this page is the last. */
  next?: Position;
}

interface ChainHead {
  seq: number;
  hash: string;
}

// Export batch size: large enough that per-query overhead is small, small enough to keep memory flat.
const EXPORT_BATCH = 1000;

// Server-minted ids (UUIDv7, lower case). Anything else names no event and need not reach the database.
const EVENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const FILTER_COLUMNS = {
  action: 'action',
  source: 'source',
  serviceId: 'service_id',
  resourceId: 'resource_id',
  userIdentifier: 'user_identifier',
} as const;

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
    if (!EVENT_ID.test(id)) return undefined;
    const row = await translateErrors(() => this.db<EventRow>('audit_events').where({ id }).first());
    return row && this.fromRow(row);
  }

  /** One page of the filter's events, newest first, starting after `after`. */
  async list(filter: EventFilter, { limit, after }: { limit: number; after?: Position }): Promise<Page> {
    // One row more than the page tells whether another page follows, without a count.
    const rows = await translateErrors(() => this.select(filter, 'desc', after, limit + 1));
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return {
      items: items.map((row) => this.fromRow(row)),
      next: rows.length > limit && last ? positionOf(last) : undefined,
    };
  }

  /**
   * Every event the filter matches, oldest first, in batches. Each batch is its own short
   * keyset query, so no cursor or connection is held between batches (SQLite's single
   * connection keeps serving other requests during a long export) and a consumer that stops
   * pulling leaves nothing to release. The first batch is read before this resolves, so a
   * database that cannot answer fails the request before any of the response is sent.
   */
  async exportEvents(filter: EventFilter): Promise<AsyncIterable<StoredAuditEvent[]>> {
    const first = await translateErrors(() => this.select(filter, 'asc', undefined, EXPORT_BATCH));
    const store = this;
    return (async function* batches() {
      let rows = first;
      while (rows.length > 0) {
        yield rows.map((row) => store.fromRow(row));
        if (rows.length < EXPORT_BATCH) return;
        const after = positionOf(rows.at(-1)!);
        rows = await translateErrors(() => store.select(filter, 'asc', after, EXPORT_BATCH));
      }
    })();
  }

  /** A random secret shared by every instance on this database, created on first use. */
  async sharedSecret(name: string): Promise<Buffer> {
    return translateErrors(async () => {
      await this.db('service_secrets')
        .insert({ name, value: randomBytes(32).toString('base64') })
        .onConflict('name')
        .ignore();
      const { value } = await this.db('service_secrets').where({ name }).first('value');
      return Buffer.from(value, 'base64');
    });
  }

  /** The filter's events in (occurred_at, id) order, `direction` from `after`, at most `limit`. */
  private select(filter: EventFilter, direction: 'asc' | 'desc', after: Position | undefined, limit: number) {
    const query = this.db<EventRow>('audit_events').where('ims_org_id', filter.imsOrgId);
    for (const [field, column] of Object.entries(FILTER_COLUMNS)) {
      const value = filter[field as keyof typeof FILTER_COLUMNS];
      if (value === undefined) continue;
      // Lets PostgreSQL use the md5 index (see the read-indexes migration); the exact match follows.
      if (this.postgres && DIGEST_INDEXED_COLUMNS.has(column)) query.whereRaw(`md5(${column}) = md5(?)`, [value]);
      query.where(column, value);
    }
    if (filter.from !== undefined) query.where('occurred_at', '>=', filter.from);
    if (filter.to !== undefined) query.where('occurred_at', '<', filter.to);
    for (const [key, value] of filter.tags ?? []) {
      if (this.postgres) query.whereRaw('tags @> ?::jsonb', [JSON.stringify({ [key]: value })]);
      else query.whereRaw('EXISTS (SELECT 1 FROM json_each(audit_events.tags) WHERE key = ? AND value = ?)', [key, value]);
    }
    if (after) {
      // (occurred_at, id) strictly beyond the position. Spelled out rather than as a row-value
      // comparison so that both databases seek the index on its leading occurred_at bound.
      const [beyond, atOrBeyond] = direction === 'desc' ? ['<', '<='] : ['>', '>='];
      query
        .where('occurred_at', atOrBeyond, after.occurredAt)
        .where((q) => q.where('occurred_at', beyond, after.occurredAt).orWhere('id', beyond, after.id));
    }
    return query
      .orderBy([
        { column: 'occurred_at', order: direction },
        { column: 'id', order: direction },
      ])
      .limit(limit);
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

function positionOf(row: EventRow): Position {
  return { occurredAt: Number(row.occurred_at), id: row.id };
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
