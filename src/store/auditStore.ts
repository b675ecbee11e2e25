import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { StoredAuditEvent } from '../domain/api';
import type { EventFilter, Position } from '../domain/filter';
import { isEventId } from '../domain/ids';
import type { WriteOutcome, WriteRequest } from '../domain/linking';
import type { Committer } from './committer';
import type { Database, PoolStats } from './db';
import { translateErrors } from './errors';
import { PostgresCommitter } from './postgresCommitter';
import { LogStore } from './logStore';
import { ErasureStore } from './erasure';
import { RetentionStore } from './retention';
import { DIGEST_INDEXED_COLUMNS, type EventRow, fromRow } from './rows';
import { turn, withinBytes } from './steps';
import { SqliteCommitter } from './sqliteCommitter';
import { SqliteVerifiers } from './sqliteVerifiers';

export type { PoolStats } from './db';

export interface Page {
  /** Newest first. */
  items: StoredAuditEvent[];
  /** Where the next page starts; undefined when this page is the last. */
  next?: Position;
}

/**
 * A list page ends early, with a cursor, once its events would pass this many bytes (their
 * stored size, about their JSON size): the spec's page budget. Bounds a request's memory
 * however large the events are.
 */
export const PAGE_MAX_BYTES = 4 * 1024 * 1024;
// Export and verification read in batches bounded by count and by bytes alike: memory stays
// flat for events of any size, and each synchronous step on SQLite stays short.
const EXPORT_BATCH = 500;
const EXPORT_BATCH_BYTES = 1024 * 1024;
// The most bytes of whole rows a read fetches and decodes in one synchronous step.
const STEP_BYTES = 1024 * 1024;
// Index entries a filtered read walks per step when its filter is not served by one index
// seek (tags, several equality filters): SQLite answers on the event loop, so a filter that
// matches nothing in a large tenant is read in windows of this many rows, with a turn of the
// event loop between them, instead of in one scan that stops every other request.
const SCAN_WINDOW = 1000;

// The equality filters' columns, each with an index (ims_org_id, column, occurred_at, id). The
// first one a filter sets is the one a read seeks; the order puts those likely to select fewest first.
const FILTER_COLUMNS = {
  userIdentifier: 'user_identifier',
  resourceId: 'resource_id',
  serviceId: 'service_id',
  action: 'action',
  source: 'source',
} as const;

// The text columns whose bytes make up an event's size, and the JSON around them (field names,
// instants, seq), so that a page's stored size is close to its body's.
const SIZED_COLUMNS = [
  'id',
  'ims_org_id',
  'action',
  'source',
  'service_id',
  'resource_id',
  'user_identifier',
  'salts',
  'leaf_hash',
];
const JSON_OVERHEAD_BYTES = 250;

/** A row's key and stored size: what a read learns before it fetches whole rows. */
interface RowKey {
  id: string;
  occurred_at: number | string;
  size: number | string;
}

/**
 * The only code that speaks SQL about audit events: knex for reads, the database's Committer
 * for writes (the write queue, eventWriter.ts, commits through this store), and `log` for the
 * tenants' Merkle trees (heads, proofs, verification).
 */
export class AuditStore implements Committer {
  readonly log: LogStore;
  /** Tenants' retention policies and the purge of their logs' oldest events (#14). */
  readonly retention: RetentionStore;
  /** Erasures of data subjects' personal data (#14). */
  readonly erasures: ErasureStore;
  private readonly db: Knex;
  private readonly postgres: boolean;
  private readonly committer: Committer;
  // SQLite: the commit thread's connection is what commits use (poolStats).
  private readonly sqliteCommitter: SqliteCommitter | undefined;
  private readonly verifiers: SqliteVerifiers | undefined;

  constructor(
    private readonly database: Database,
    idempotencyTtlMs = 24 * 3600_000,
  ) {
    this.db = database.knex;
    const { config, pool } = database;
    this.postgres = config.client === 'postgres';
    if (config.client === 'sqlite') {
      this.verifiers = new SqliteVerifiers({ filename: config.filename, timeoutMs: database.timeoutMs });
    }
    this.log = new LogStore(this.db, this.postgres, { verifiers: this.verifiers, pool });
    this.retention = new RetentionStore(this.db, this.postgres);
    this.erasures = new ErasureStore(this.db, this.postgres);
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
    await this.verifiers?.close();
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

  /** The SQLite commit thread's time in groups and COMMITs since the last call (CommitStats); zeros on PostgreSQL. */
  takeCommitTiming(): { threadMs: number; commitMs: number; writerTid?: number } {
    const timing = this.sqliteCommitter?.timing;
    if (!timing) return { threadMs: 0, commitMs: 0 };
    const taken = { ...timing, writerTid: this.sqliteCommitter.threadTid };
    timing.threadMs = timing.commitMs = 0;
    return taken;
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

  async get(id: string): Promise<StoredAuditEvent | undefined> {
    if (!isEventId(id)) return undefined;
    const row = await translateErrors(() => this.db<EventRow>('audit_events').where({ id }).first());
    return row && fromRow(row);
  }

  /** One page of the filter's events, newest first, starting after `after`: at most `limit`, and PAGE_MAX_BYTES. */
  async list(filter: EventFilter, { limit, after }: { limit: number; after?: Position }): Promise<Page> {
    const page = await translateErrors(() => this.readPage(filter, 'desc', after, limit, PAGE_MAX_BYTES));
    return { items: page.events, next: page.next };
  }

  /**
   * Every event the filter matches, oldest first, in batches bounded by count and bytes. Each
   * batch is its own short keyset read, so no cursor or connection is held between batches
   * (SQLite's single connection keeps serving other requests during a long export) and a
   * consumer that stops pulling leaves nothing to release. The first batch is read before this
   * resolves, so a database that cannot answer fails the request before any of the response is sent.
   */
  async exportEvents(filter: EventFilter): Promise<AsyncIterable<StoredAuditEvent[]>> {
    const read = (after?: Position) =>
      translateErrors(() => this.readPage(filter, 'asc', after, EXPORT_BATCH, EXPORT_BATCH_BYTES));
    const first = await read();
    return (async function* batches() {
      let page = first;
      for (;;) {
        if (page.events.length > 0) yield page.events;
        if (!page.next) return;
        page = await read(page.next);
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
      // Inserted just above, if another instance had not already.
      const row = await this.db<{ name: string; value: string }>('service_secrets').where({ name }).first('value');
      return Buffer.from(row!.value, 'base64');
    });
  }

  /**
   * Up to `limit` of the filter's events in (occurred_at, id) order, `direction` from `after`,
   * holding at most `maxBytes` (at least one event), and where the next page starts if more
   * match. Keys and sizes are read first and whole rows only for what fits, so memory is bounded
   * by the bytes. A filter that one index seek does not serve is scanned in windows of
   * SCAN_WINDOW rows with a turn of the event loop between them (see select).
   */
  private async readPage(
    filter: EventFilter,
    direction: 'asc' | 'desc',
    after: Position | undefined,
    limit: number,
    maxBytes: number,
  ): Promise<{ events: StoredAuditEvent[]; next?: Position }> {
    const picked: RowKey[] = [];
    let bytes = 0;
    let position = after;
    let more = false;
    for (;;) {
      await turn();
      // One more than the page needs tells whether another page follows, without a count.
      const window = await this.select(filter, direction, position, limit + 1 - picked.length);
      for (const key of window.keys) {
        const size = Number(key.size);
        if (picked.length === limit || (picked.length > 0 && bytes + size > maxBytes)) {
          more = true;
          break;
        }
        picked.push(key);
        bytes += size;
      }
      if (more || !window.end) break;
      position = window.end;
    }
    const events: StoredAuditEvent[] = [];
    // Whole rows in steps of STEP_BYTES, each read and decoded in one turn of the event loop.
    for (let from = 0; from < picked.length;) {
      const step = withinBytes(picked.slice(from), STEP_BYTES);
      from += step.length;
      await turn();
      // Put in order here: sorting whole rows in SQLite costs more than the lookups.
      const found = new Map<string, EventRow>();
      const ids = step.map((key) => key.id);
      for (const row of await this.db<EventRow>('audit_events').whereIn('id', ids)) found.set(row.id, row);
      // An event erased since its key was read is simply left out.
      for (const id of ids) {
        const row = found.get(id);
        if (row) events.push(fromRow(row));
      }
    }
    return { events, next: more ? positionOf(picked.at(-1)!) : undefined };
  }

  /**
   * The keys and sizes of the filter's next events, `direction` from `after`, at most `limit`,
   * and `end`, where the scan stopped short of the tenant's end without filling `limit`.
   * A filter one index seek serves (at most one equality filter, a time range, no tags) reads
   * only what it returns. Any other walks at most SCAN_WINDOW rows of the seek's index: the
   * window's last position first, then the window's rows (the outer loop: CROSS JOIN keeps
   * SQLite from turning it around into a scan of the whole tenant) with the other filters applied.
   */
  private async select(
    filter: EventFilter,
    direction: 'asc' | 'desc',
    after: Position | undefined,
    limit: number,
  ): Promise<{ keys: RowKey[]; end?: Position }> {
    const equalities = Object.entries(FILTER_COLUMNS).flatMap(([field, column]) => {
      const value = filter[field as keyof typeof FILTER_COLUMNS];
      return value === undefined ? [] : [[column, value] as const];
    });
    const order = (table: string) => [
      { column: `${table}.occurred_at`, order: direction },
      { column: `${table}.id`, order: direction },
    ];
    const sized = this.db.raw(`${this.sizeSql('e')} AS size`);
    // The conditions one index seek serves, on `table` ('e' names audit_events as e).
    const seek = (table: 'audit_events' | 'e') => {
      const query = this.db(table === 'e' ? 'audit_events as e' : table).where(`${table}.ims_org_id`, filter.imsOrgId);
      const [first] = equalities;
      if (first) this.whereEquals(query, table, ...first);
      if (filter.from !== undefined) query.where(`${table}.occurred_at`, '>=', filter.from);
      if (filter.to !== undefined) query.where(`${table}.occurred_at`, '<', filter.to);
      if (after) whereBeyond(query, table, direction, after, false);
      return query;
    };
    if (equalities.length <= 1 && (filter.tags?.length ?? 0) === 0) {
      const keys = (await seek('e')
        .select('e.id', 'e.occurred_at', sized)
        .orderBy(order('e'))
        .limit(limit)) as RowKey[];
      return { keys };
    }
    const last = (await seek('audit_events')
      .select('occurred_at', 'id')
      .orderBy(order('audit_events'))
      .offset(SCAN_WINDOW - 1)
      .first()) as { occurred_at: number | string; id: string } | undefined;
    const end = last && positionOf(last);
    const window = seek('audit_events').select('id');
    if (end) whereBeyond(window, 'audit_events', direction === 'desc' ? 'asc' : 'desc', end, true);
    await turn();
    const query = this.db
      .from(window.as('w'))
      .joinRaw(`${this.postgres ? 'JOIN' : 'CROSS JOIN'} audit_events AS e ON e.id = w.id`)
      .select('e.id', 'e.occurred_at', sized);
    for (const [column, value] of equalities.slice(1)) this.whereEquals(query, 'e', column, value);
    for (const [key, value] of filter.tags ?? []) {
      if (this.postgres) query.whereRaw('e.tags @> ?::jsonb', [JSON.stringify({ [key]: value })]);
      else query.whereRaw('EXISTS (SELECT 1 FROM json_each(e.tags) WHERE key = ? AND value = ?)', [key, value]);
    }
    const keys = (await query.orderBy(order('e')).limit(limit)) as RowKey[];
    return { keys, end: keys.length < limit ? end : undefined };
  }

  private whereEquals(query: Knex.QueryBuilder, table: string, column: string, value: string): void {
    // Lets PostgreSQL use the md5 index (see the read-indexes migration); the exact match follows.
    if (this.postgres && DIGEST_INDEXED_COLUMNS.has(column))
      query.whereRaw(`md5(${table}.${column}) = md5(?)`, [value]);
    query.where(`${table}.${column}`, value);
  }

  /** SQL for the stored size of the event in `table`'s row, in bytes. */
  private sizeSql(table: string): string {
    const tags = this.postgres ? `${table}.tags::text` : `${table}.tags`;
    return [
      ...SIZED_COLUMNS.map((column) => `octet_length(${table}.${column})`),
      `coalesce(octet_length(${tags}), 0)`,
      // The commitments of erased fields (#14), NULL for most events.
      `coalesce(octet_length(${table}.erased), 0)`,
    ]
      .concat(String(JSON_OVERHEAD_BYTES))
      .join(' + ');
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

function positionOf(row: { occurred_at: number | string; id: string }): Position {
  return { occurredAt: Number(row.occurred_at), id: row.id };
}

/**
 * Restricts `query` to (occurred_at, id) beyond `position` in `direction` (or at it, with
 * `inclusive`). Spelled out rather than as a row-value comparison so that both databases seek
 * the index on its leading occurred_at bound.
 */
function whereBeyond(
  query: Knex.QueryBuilder,
  table: string,
  direction: 'asc' | 'desc',
  position: Position,
  inclusive: boolean,
): void {
  const [beyond, atOrBeyond] = direction === 'desc' ? ['<', '<='] : ['>', '>='];
  query.where(`${table}.occurred_at`, atOrBeyond, position.occurredAt).where((q) => {
    q.where(`${table}.occurred_at`, beyond, position.occurredAt).orWhere(
      `${table}.id`,
      inclusive ? atOrBeyond : beyond,
      position.id,
    );
  });
}
