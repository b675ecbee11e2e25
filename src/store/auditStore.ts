import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { ChainVerification, StoredAuditEvent } from '../domain/api';
import type { EventFilter, Position } from '../domain/filter';
import { chainHash, GENESIS_HASH } from '../domain/chain';
import type { ChainHead, WriteOutcome, WriteRequest } from '../domain/linking';
import type { Committer } from './committer';
import type { Database, PoolStats } from './db';
import { translateErrors } from './errors';
import { PostgresCommitter } from './postgresCommitter';
import { DIGEST_INDEXED_COLUMNS, type EventRow, fromRow } from './rows';
import { SqliteCommitter } from './sqliteCommitter';

export type { PoolStats } from './db';

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

/**
 * The only code that speaks SQL about audit events: knex for reads, and the database's
 * Committer for writes (the write queue, eventWriter.ts, commits through this store).
 */
export class AuditStore implements Committer {
  private readonly db: Knex;
  private readonly postgres: boolean;
  private readonly committer: Committer;
  // SQLite: the commit thread's connection is what commits use (poolStats).
  private readonly sqliteCommitter: SqliteCommitter | undefined;

  constructor(
    private readonly database: Database,
    idempotencyTtlMs = 24 * 3600_000,
  ) {
    this.db = database.knex;
    const { config, pool } = database;
    this.postgres = config.client === 'postgres';
    if (pool) {
      this.committer = new PostgresCommitter(pool, idempotencyTtlMs);
    } else if (config.client === 'sqlite') {
      this.committer = this.sqliteCommitter = new SqliteCommitter({
        filename: config.filename,
        timeoutMs: database.timeoutMs,
        idempotencyTtlMs,
      });
    } else {
      throw new Error('a PostgreSQL database needs its pool');
    }
  }

  async migrate(): Promise<void> {
    await this.db.migrate.latest();
  }

  async close(): Promise<void> {
    await this.committer.close();
    await this.database.close();
  }

  /** Answers when the database answers a trivial query. */
  async ping(): Promise<void> {
    await translateErrors(() => this.db.raw('select 1'));
  }

  /**
   * The connections commits use: on PostgreSQL the pool (shared with reads), on SQLite the
   * commit thread's one connection (used while a commit is in the thread, the rest waiting).
   */
  poolStats(): PoolStats {
    const { pool } = this.database;
    if (pool)
      return { used: pool.totalCount - pool.idleCount, free: pool.idleCount, pendingAcquires: pool.waitingCount };
    const inFlight = this.sqliteCommitter?.inFlight ?? 0;
    return { used: Math.min(inFlight, 1), free: inFlight > 0 ? 0 : 1, pendingAcquires: Math.max(inFlight - 1, 0) };
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
    return translateErrors(() => this.committer.commit(requests));
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
          const event = fromRow(row);
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
    return row && fromRow(row);
  }

  /** One page of the filter's events, newest first, starting after `after`. */
  async list(filter: EventFilter, { limit, after }: { limit: number; after?: Position }): Promise<Page> {
    // One row more than the page tells whether another page follows, without a count.
    const rows = await translateErrors(() => this.select(filter, 'desc', after, limit + 1));
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return {
      items: items.map((row) => fromRow(row)),
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
        yield rows.map((row) => fromRow(row));
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

  /** The tenant's events with seq > `afterSeq`, in seq order, at most `limit` (streaming and delivery, #15). */
  async eventsAfterSeq(imsOrgId: string, afterSeq: number, limit: number): Promise<StoredAuditEvent[]> {
    const rows = await translateErrors(() =>
      this.db<EventRow>('audit_events')
        .where('ims_org_id', imsOrgId)
        .andWhere('seq', '>', afterSeq)
        .orderBy('seq')
        .limit(limit),
    );
    return rows.map((row) => fromRow(row));
  }
}

function positionOf(row: EventRow): Position {
  return { occurredAt: Number(row.occurred_at), id: row.id };
}
