import type { Database, Statement } from 'better-sqlite3';
import type { Knex } from 'knex';
import type pg from 'pg';
import { GENESIS_HASH } from '../domain/chain';
import { isUnavailable } from './errors';

/** A row of audit_events, as both databases store it. */
export interface EventRow {
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

export interface KeyRow {
  client_id: string;
  key: string;
  request_hash: string;
  event_ids: string;
  expires_at: number;
}

export interface ChainHead {
  seq: number;
  hash: string;
}

/**
 * The statements of one group commit, run inside its transaction. commitGroup (groupCommit.ts)
 * holds the logic; this is only its SQL, once per database, through the driver with statements
 * prepared once per connection: knex builds and prepares every statement anew, which cost
 * more than the commit itself (see npm run bench). Everything else in the store uses knex.
 */
export interface CommitSql {
  /** Unexpired keys among the pairs; expired ones are deleted so they can be claimed again. */
  liveKeys(pairs: [clientId: string, key: string][], now: number): Promise<KeyRow[]>;
  /**
   * The chain heads of the orgs (sorted), created at seq 0 where missing and locked until
   * the transaction ends, so concurrent writers on any instance extend each chain in turn.
   * (PostgreSQL's one-statement commit answers the remembered heads; its write checks them
   * under lock, see commitOnPostgres.)
   */
  lockHeads(orgs: string[]): Promise<Map<string, ChainHead>>;
  /** Inserts the events and idempotency keys and moves the heads forward. */
  write(events: EventRow[], heads: Map<string, ChainHead>, keys: KeyRow[]): Promise<void>;
}

/**
 * PostgreSQL: each statement takes whole columns as arrays (unnest), so its text is the
 * same for any group size and is prepared once per connection (named statements).
 */
const POSTGRES = {
  deleteExpiredKeys: `DELETE FROM idempotency_keys WHERE (client_id, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))
    AND expires_at <= $3`,
  selectKeys: 'SELECT * FROM idempotency_keys WHERE (client_id, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))',
  // Creates missing heads and locks every one (DO UPDATE locks the row) in one round trip;
  // the orgs arrive sorted, so two writers never wait on each other in a cycle.
  lockHeads: `INSERT INTO audit_chain_heads (ims_org_id, seq, hash) SELECT org, 0, $2 FROM unnest($1::text[]) AS org
    ON CONFLICT (ims_org_id) DO UPDATE SET seq = audit_chain_heads.seq RETURNING ims_org_id, seq, hash`,
  // All the writes in one statement: one round trip while the heads are locked.
  write: `WITH events AS (
      INSERT INTO audit_events (id, ims_org_id, seq, action, source, service_id, resource_id, user_identifier,
        occurred_at, received_at, tags, hash)
      SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::text[], $9::bigint[], $10::bigint[], $11::jsonb[], $12::text[])
    ), keys AS (
      INSERT INTO idempotency_keys (client_id, key, request_hash, event_ids, expires_at)
      SELECT * FROM unnest($13::text[], $14::text[], $15::text[], $16::text[], $17::bigint[])
    )
    UPDATE audit_chain_heads AS head SET seq = new.seq, hash = new.hash
    FROM unnest($18::text[], $19::bigint[], $20::text[]) AS new(org, seq, hash) WHERE head.ims_org_id = new.org`,
  // write's parameters, then each org's expected head ($21, $22). The heads are locked first
  // (sorted, as lockHeads does); only if every one is still as expected is anything written.
  // The CTEs that write read `unchanged`, so they run after the lock and the check.
  writeIfHeads: `WITH expected AS (
      SELECT * FROM unnest($18::text[], $19::bigint[], $20::text[], $21::bigint[], $22::text[])
        AS expected(org, seq, hash, old_seq, old_hash)
    ), locked AS (
      SELECT ims_org_id, seq, hash FROM audit_chain_heads WHERE ims_org_id = ANY($18::text[])
      ORDER BY ims_org_id FOR UPDATE
    ), unchanged AS (
      SELECT count(*) = cardinality($18::text[]) AS unchanged FROM locked JOIN expected
        ON locked.ims_org_id = expected.org AND locked.seq = expected.old_seq AND locked.hash = expected.old_hash
    ), events AS (
      INSERT INTO audit_events (id, ims_org_id, seq, action, source, service_id, resource_id, user_identifier,
        occurred_at, received_at, tags, hash)
      SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
        $8::text[], $9::bigint[], $10::bigint[], $11::jsonb[], $12::text[]) WHERE (SELECT unchanged FROM unchanged)
    ), keys AS (
      INSERT INTO idempotency_keys (client_id, key, request_hash, event_ids, expires_at)
      SELECT * FROM unnest($13::text[], $14::text[], $15::text[], $16::text[], $17::bigint[]) WHERE (SELECT unchanged FROM unchanged)
    ), moved AS (
      UPDATE audit_chain_heads AS head SET seq = expected.seq, hash = expected.hash FROM expected
      WHERE head.ims_org_id = expected.org AND (SELECT unchanged FROM unchanged)
    )
    SELECT unchanged FROM unchanged`,
};

const EVENT_COLUMNS = [
  'id',
  'ims_org_id',
  'seq',
  'action',
  'source',
  'service_id',
  'resource_id',
  'user_identifier',
  'occurred_at',
  'received_at',
  'tags',
  'hash',
] as const;
const KEY_COLUMNS = ['client_id', 'key', 'request_hash', 'event_ids', 'expires_at'] as const;

/**
 * The chain heads this instance wrote last, by org: on PostgreSQL a group whose heads are all
 * known here is committed in one round trip (commitOnPostgres). Only a guess: the statement
 * checks it under lock, so another instance moving a head costs a retry, never a fork.
 */
export class ChainHeadCache {
  private readonly heads = new Map<string, ChainHead>();

  constructor(private readonly maxOrgs = 10_000) {}

  /** The heads of all the orgs, or undefined if any is unknown. */
  lookup(orgs: string[]): Map<string, ChainHead> | undefined {
    const found = new Map<string, ChainHead>();
    for (const org of orgs) {
      const head = this.heads.get(org);
      if (!head) return undefined;
      found.set(org, head);
    }
    return found;
  }

  remember(heads: Map<string, ChainHead>): void {
    // Bounded by starting over: tenants that still write come back at their next commit.
    if (this.heads.size + heads.size > this.maxOrgs) this.heads.clear();
    for (const [org, head] of heads) this.heads.set(org, { ...head });
  }

  forget(orgs: Iterable<string>): void {
    for (const org of orgs) this.heads.delete(org);
  }
}

type RunStatement = (name: keyof typeof POSTGRES, values: unknown[]) => Promise<Record<string, any>[]>;

/** What one attempt at a group commit touched: the orgs whose heads it read, the heads it wrote. */
interface Attempt {
  orgs: string[];
  written?: Map<string, ChainHead>;
}

// A group whose cached heads turned out stale: commit it again, locking the heads first.
const STALE_HEADS = Symbol('stale heads');

/**
 * Runs `work` (a group commit) on one pooled PostgreSQL connection. When the cache knows
 * every head the group extends, the writes go out as one statement (`writeIfHeads`) that
 * locks those heads, checks they are still the cached ones and only then writes, atomically
 * and in autocommit: one round trip instead of BEGIN, lock, write and COMMIT, whose waits
 * bounded throughput. Otherwise, or if a head moved (another instance wrote), the group is
 * committed in a transaction that locks and reads the heads first. `work` may run twice.
 */
export async function commitOnPostgres<T>(
  db: Knex,
  cache: ChainHeadCache,
  work: (sql: CommitSql) => Promise<T>,
): Promise<T> {
  const connection: pg.PoolClient = await db.client.acquireConnection();
  const run: RunStatement = async (name, values) =>
    (await connection.query({ name: `audit_${name}`, text: POSTGRES[name], values })).rows;
  let attempt: Attempt = { orgs: [] };
  try {
    try {
      const result = await work(withCachedHeads(run, cache, attempt));
      cache.remember(attempt.written ?? new Map());
      return result;
    } catch (error) {
      if (error !== STALE_HEADS) throw error;
    }
    cache.forget(attempt.orgs);
    attempt = { orgs: [] };
    await connection.query('BEGIN');
    try {
      const result = await work(inTransaction(run, attempt));
      await connection.query('COMMIT');
      cache.remember(attempt.written ?? new Map());
      return result;
    } catch (error) {
      if (!isUnavailable(error)) await connection.query('ROLLBACK').catch(() => {});
      throw error;
    }
  } catch (error) {
    cache.forget(attempt.orgs);
    // After a reply timeout the connection still carries the unanswered statement, and a
    // ROLLBACK would wait behind it for another timeout. Closing the connection rolls any
    // transaction back at the server, and the pool discards it.
    if (isUnavailable(error)) await connection.end().catch(() => {});
    throw error;
  } finally {
    await db.client.releaseConnection(connection);
  }
}

/** Deletes the expired keys among the pairs, then reads the live ones (either way of committing). */
async function liveKeys(run: RunStatement, pairs: [string, string][], now: number): Promise<KeyRow[]> {
  const columns = [pairs.map((pair) => pair[0]), pairs.map((pair) => pair[1])];
  await run('deleteExpiredKeys', [...columns, now]);
  return (await run('selectKeys', columns)) as KeyRow[];
}

/** The parameters of `write`, which `writeIfHeads` begins with. */
function writeValues(events: EventRow[], keys: KeyRow[], heads: Map<string, ChainHead>): unknown[] {
  const entries = [...heads];
  return [
    ...EVENT_COLUMNS.map((column) => events.map((row) => row[column])),
    ...KEY_COLUMNS.map((column) => keys.map((row) => row[column])),
    entries.map(([org]) => org),
    entries.map(([, head]) => head.seq),
    entries.map(([, head]) => head.hash),
  ];
}

/** The one-statement commit: heads from the cache, checked under lock and moved by writeIfHeads. */
function withCachedHeads(run: RunStatement, cache: ChainHeadCache, attempt: Attempt): CommitSql {
  let expected = new Map<string, ChainHead>();
  return {
    liveKeys: (pairs, now) => liveKeys(run, pairs, now),
    async lockHeads(orgs) {
      attempt.orgs = orgs;
      const cached = cache.lookup(orgs);
      if (!cached) throw STALE_HEADS;
      expected = new Map(cached);
      return cached;
    },
    async write(events, heads, keys) {
      const before = [...heads.keys()].map((org) => expected.get(org)!);
      const [{ unchanged }] = await run('writeIfHeads', [
        ...writeValues(events, keys, heads),
        before.map((head) => head.seq),
        before.map((head) => head.hash),
      ]);
      if (!unchanged) throw STALE_HEADS;
      attempt.written = heads;
    },
  };
}

/** The transactional commit: heads created where missing, then locked and read before the writes. */
function inTransaction(run: RunStatement, attempt: Attempt): CommitSql {
  return {
    liveKeys: (pairs, now) => liveKeys(run, pairs, now),
    async lockHeads(orgs) {
      attempt.orgs = orgs;
      const rows = await run('lockHeads', [orgs, GENESIS_HASH]);
      return new Map(rows.map((row) => [row.ims_org_id, { seq: Number(row.seq), hash: row.hash }]));
    },
    async write(events, heads, keys) {
      await run('write', writeValues(events, keys, heads));
      attempt.written = heads;
    },
  };
}

const sqliteStatementsByConnection = new WeakMap<Database, ReturnType<typeof prepareSqlite>>();

function prepareSqlite(connection: Database) {
  return {
    // IMMEDIATE takes the write lock up front: no other process can slip in between our reads and writes.
    begin: connection.prepare('BEGIN IMMEDIATE'),
    commit: connection.prepare('COMMIT'),
    rollback: connection.prepare('ROLLBACK'),
    deleteExpiredKey: connection.prepare(
      'DELETE FROM idempotency_keys WHERE client_id = ? AND key = ? AND expires_at <= ?',
    ),
    selectKey: connection.prepare('SELECT * FROM idempotency_keys WHERE client_id = ? AND key = ?'),
    createHead: connection.prepare(
      'INSERT INTO audit_chain_heads (ims_org_id, seq, hash) VALUES (?, 0, ?) ON CONFLICT DO NOTHING',
    ),
    selectHead: connection.prepare('SELECT seq, hash FROM audit_chain_heads WHERE ims_org_id = ?'),
    updateHead: connection.prepare('UPDATE audit_chain_heads SET seq = ?, hash = ? WHERE ims_org_id = ?'),
    // Positional parameters: binding by name measured about 10% slower per event.
    insertEvent: connection.prepare(
      `INSERT INTO audit_events (${EVENT_COLUMNS.join(', ')}) VALUES (${EVENT_COLUMNS.map(() => '?').join(', ')})`,
    ),
    insertKey: connection.prepare(
      `INSERT INTO idempotency_keys (${KEY_COLUMNS.join(', ')}) VALUES (${KEY_COLUMNS.map(() => '?').join(', ')})`,
    ),
  };
}

/**
 * Runs `work` in a transaction on the commit thread's SQLite connection (sqliteWriterThread.ts).
 * The statements are synchronous, so nothing else runs on the connection until it ends.
 */
export async function inSqliteTransaction<T>(connection: Database, work: (sql: CommitSql) => Promise<T>): Promise<T> {
  let statements = sqliteStatementsByConnection.get(connection);
  if (!statements) sqliteStatementsByConnection.set(connection, (statements = prepareSqlite(connection)));
  const s = statements;
  s.begin.run();
  try {
    const result = await work({
      async liveKeys(pairs, now) {
        return pairs.flatMap(([clientId, key]) => {
          s.deleteExpiredKey.run(clientId, key, now);
          return (s.selectKey as Statement<unknown[], KeyRow>).all(clientId, key);
        });
      },
      async lockHeads(orgs) {
        return new Map(
          orgs.map((org) => {
            s.createHead.run(org, GENESIS_HASH);
            const head = s.selectHead.get(org) as ChainHead;
            return [org, { seq: Number(head.seq), hash: head.hash }];
          }),
        );
      },
      async write(events, heads, keys) {
        for (const row of events) s.insertEvent.run(EVENT_COLUMNS.map((column) => row[column]));
        for (const row of keys) s.insertKey.run(KEY_COLUMNS.map((column) => row[column]));
        for (const [org, head] of heads) s.updateHead.run(head.seq, head.hash, org);
      },
    });
    s.commit.run();
    return result;
  } catch (error) {
    if (connection.inTransaction) s.rollback.run();
    throw error;
  }
}
