import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { ChainVerification, StoredAuditEvent } from '../domain/api';
import type { EventFilter, Position } from '../domain/filter';
import { formatInstant } from '../domain/instant';
import { chainHash, GENESIS_HASH } from '../domain/chain';
import { type ChainHead, ChainHeadCache, commitOnPostgres, type EventRow } from './commitSql';
import { isPostgres, sqliteFile } from './db';
import { SqliteWriter } from './sqliteWriter';
import { translateErrors } from './errors';
import { commitGroup, type WriteOutcome, type WriteRequest } from './groupCommit';
import { DIGEST_INDEXED_COLUMNS } from './migrations/20261126000000_add_read_indexes';

/** Occupancy of the database connection pool. */
export interface PoolStats {
  used: number;
  free: number;
  /** Queries waiting for a connection. */
  pendingAcquires: number;
}

// Events read per query while verifying: bounds memory on chains of any length.
const VERIFY_PAGE = 5000;

export interface Page {
  /** Newest first. */
  items: StoredAuditEvent[];
  /** Where the next page starts; undefined when this page is the last. */
  next?: Position;
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

/** The only code that speaks SQL about audit events. */
export class AuditStore {
  private readonly postgres: boolean;
  // PostgreSQL: the chain heads this instance wrote last (see commitOnPostgres).
  private readonly chainHeads = new ChainHeadCache();
  // SQLite: commits run in a thread of their own, started with the first write.
  private sqliteCommits: SqliteWriter | undefined;

  constructor(
    private readonly db: Knex,
    private readonly idempotencyTtlMs = 24 * 3600_000,
  ) {
    this.postgres = isPostgres(db);
  }

  async migrate(): Promise<void> {
    await this.db.migrate.latest();
  }

  async close(): Promise<void> {
    await this.sqliteCommits?.close();
    await this.db.destroy();
  }

  /** Answers when the database answers a trivial query. */
  async ping(): Promise<void> {
    await translateErrors(() => this.db.raw('select 1'));
  }

  poolStats(): PoolStats {
    // knex drops its pool on destroy(); a scrape after close() reads an empty pool.
    const pool = this.db.client.pool as
      { numUsed(): number; numFree(): number; numPendingAcquires(): number } | undefined;
    if (!pool) return { used: 0, free: 0, pendingAcquires: 0 };
    return { used: pool.numUsed(), free: pool.numFree(), pendingAcquires: pool.numPendingAcquires() };
  }

  /**
   * Commits a group of write requests in one transaction (group commit: one fsync for many
   * requests), resolving only after the commit. Each request's events join their tenants'
   * chains in input order. A request whose idempotency key was already used gets the
   * earlier outcome instead of storing anything: its ids when the body matches, a mismatch
   * when it does not. Throws if the group cannot be committed as a whole; the caller
   * retries the requests one by one, so one bad request fails only itself.
   */
  async commit(requests: WriteRequest[]): Promise<WriteOutcome[]> {
    return translateErrors(() =>
      this.postgres
        ? commitOnPostgres(this.db, this.chainHeads, (sql) => commitGroup(sql, requests, this.idempotencyTtlMs))
        : this.sqliteWriter().commit(requests),
    );
  }

  private sqliteWriter(): SqliteWriter {
    return (this.sqliteCommits ??= new SqliteWriter({
      ...sqliteFile(this.db),
      idempotencyTtlMs: this.idempotencyTtlMs,
    }));
  }

  /** Removes idempotency keys past their retention; returns how many. */
  async deleteExpiredIdempotencyKeys(now = Date.now()): Promise<number> {
    return translateErrors(() => this.db('idempotency_keys').where('expires_at', '<=', now).delete());
  }

  /**
   * Recomputes a tenant's chain in seq order, in pages (constant memory), and checks it
   * against the head row as it was when verification began. Events committed meanwhile
   * (each commit moves the head with its events) are left to the next verification.
   * Stops at the first bad position.
   */
  async verifyChain(
    imsOrgId: string,
    onProgress: (checked: number, total: number) => void = () => {},
  ): Promise<ChainVerification> {
    return translateErrors(async () => {
      const head = await this.readHead(imsOrgId);
      const result = { imsOrgId, count: 0, headSeq: head.seq, headHash: head.hash };
      const broken = (brokenAt: number, reason: string) => ({ ...result, verified: false, brokenAt, reason });
      let previousHash = GENESIS_HASH;
      let expectedSeq = 1;
      for (;;) {
        // SQLite answers synchronously: without a turn of the event loop between pages, a
        // long chain would hold up every other request until it is verified.
        await new Promise((resolve) => setImmediate(resolve));
        const rows: EventRow[] = await this.db('audit_events')
          .where({ ims_org_id: imsOrgId })
          .andWhere('seq', '>=', expectedSeq)
          .andWhere('seq', '<=', head.seq)
          .orderBy('seq')
          .limit(VERIFY_PAGE);
        for (const row of rows) {
          const event = this.fromRow(row);
          result.count += 1;
          if (event.seq !== expectedSeq) {
            return broken(expectedSeq, `event ${expectedSeq} is missing: the chain jumps to ${event.seq}`);
          }
          const { hash, ...unhashed } = event;
          if (chainHash(unhashed, previousHash) !== hash) {
            return broken(
              event.seq,
              `event ${event.seq} does not match its hash: it was edited, inserted or moved, or the events before it were`,
            );
          }
          previousHash = hash;
          expectedSeq += 1;
        }
        onProgress(result.count, head.seq);
        if (rows.length < VERIFY_PAGE) break;
      }
      if (expectedSeq - 1 < head.seq) {
        return broken(expectedSeq, `events ${expectedSeq} to ${head.seq} are missing from the end of the chain`);
      }
      if (previousHash !== head.hash) return broken(head.seq, `event ${head.seq} is not the recorded chain head`);
      // An event past the head is genuine only if the commit that stored it also moved the head
      // past it. Read the events first and the head second, so a commit landing in between
      // cannot pass for an insertion.
      const last = Number(
        (await this.db('audit_events').where({ ims_org_id: imsOrgId }).max({ seq: 'seq' }))[0].seq ?? 0,
      );
      const now = await this.readHead(imsOrgId);
      if (last > now.seq) {
        return broken(last, `event ${last} lies beyond the chain head (seq ${now.seq}): it was inserted`);
      }
      return { ...result, verified: true };
    });
  }

  private async readHead(imsOrgId: string): Promise<ChainHead> {
    const row = await this.db('audit_chain_heads').where({ ims_org_id: imsOrgId }).first();
    return row ? { seq: Number(row.seq), hash: row.hash } : { seq: 0, hash: GENESIS_HASH };
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
      else
        query.whereRaw('EXISTS (SELECT 1 FROM json_each(audit_events.tags) WHERE key = ? AND value = ?)', [key, value]);
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
