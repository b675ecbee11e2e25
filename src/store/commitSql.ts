import type { Database, Statement } from 'better-sqlite3';
import type { Knex } from 'knex';
import { GENESIS_HASH } from './chain';

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
 * The statements of one group commit, run inside its transaction. AuditStore.commit holds
 * the logic; this is only its SQL, once per database: PostgreSQL through knex, SQLite
 * through the driver with cached prepared statements, because knex builds and prepares
 * every statement anew, which cost SQLite more than the commit's fsync (see npm run bench).
 */
export interface CommitSql {
  /** Unexpired keys among the pairs; expired ones are deleted so they can be claimed again. */
  liveKeys(pairs: [clientId: string, key: string][], now: number): Promise<KeyRow[]>;
  /**
   * The chain heads of the orgs (sorted), created at seq 0 where missing and locked until
   * the transaction ends, so concurrent writers on any instance extend each chain in turn.
   */
  lockHeads(orgs: string[]): Promise<Map<string, ChainHead>>;
  insertEvents(rows: EventRow[]): Promise<void>;
  saveHeads(heads: Map<string, ChainHead>): Promise<void>;
  insertKeys(rows: KeyRow[]): Promise<void>;
}

// Rows per INSERT statement: 12 bound values each stays far below PostgreSQL's parameter limit.
const INSERT_CHUNK = 500;

export function postgresCommitSql(trx: Knex.Transaction): CommitSql {
  return {
    async liveKeys(pairs, now) {
      await trx('idempotency_keys').whereIn(['client_id', 'key'], pairs).where('expires_at', '<=', now).delete();
      return trx('idempotency_keys').whereIn(['client_id', 'key'], pairs);
    },
    async lockHeads(orgs) {
      await trx('audit_chain_heads')
        .insert(orgs.map((org) => ({ ims_org_id: org, seq: 0, hash: GENESIS_HASH })))
        .onConflict('ims_org_id')
        .ignore();
      // Locked in org order, so two writers never wait on each other in a cycle.
      const rows = await trx('audit_chain_heads').whereIn('ims_org_id', orgs).orderBy('ims_org_id').forUpdate();
      return new Map(rows.map((row) => [row.ims_org_id, { seq: Number(row.seq), hash: row.hash }]));
    },
    async insertEvents(rows) {
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) await trx('audit_events').insert(rows.slice(i, i + INSERT_CHUNK));
    },
    async saveHeads(heads) {
      for (const [org, head] of heads) await trx('audit_chain_heads').where({ ims_org_id: org }).update(head);
    },
    async insertKeys(rows) {
      await trx('idempotency_keys').insert(rows);
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
    deleteExpiredKey: connection.prepare('DELETE FROM idempotency_keys WHERE client_id = ? AND key = ? AND expires_at <= ?'),
    selectKey: connection.prepare('SELECT * FROM idempotency_keys WHERE client_id = ? AND key = ?'),
    createHead: connection.prepare('INSERT INTO audit_chain_heads (ims_org_id, seq, hash) VALUES (?, 0, ?) ON CONFLICT DO NOTHING'),
    selectHead: connection.prepare('SELECT seq, hash FROM audit_chain_heads WHERE ims_org_id = ?'),
    updateHead: connection.prepare('UPDATE audit_chain_heads SET seq = ?, hash = ? WHERE ims_org_id = ?'),
    insertEvent: connection.prepare(
      `INSERT INTO audit_events (id, ims_org_id, seq, action, source, service_id, resource_id, user_identifier,
         occurred_at, received_at, tags, hash)
       VALUES (@id, @ims_org_id, @seq, @action, @source, @service_id, @resource_id, @user_identifier,
         @occurred_at, @received_at, @tags, @hash)`,
    ),
    insertKey: connection.prepare(
      'INSERT INTO idempotency_keys (client_id, key, request_hash, event_ids, expires_at) VALUES (@client_id, @key, @request_hash, @event_ids, @expires_at)',
    ),
  };
}

/**
 * Runs `work` in a transaction on SQLite's single pooled connection. The statements are
 * synchronous, so nothing else runs on the connection until the transaction ends.
 */
export async function inSqliteTransaction<T>(db: Knex, work: (sql: CommitSql) => Promise<T>): Promise<T> {
  const connection: Database = await db.client.acquireConnection();
  try {
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
        async insertEvents(rows) {
          for (const row of rows) s.insertEvent.run(row);
        },
        async saveHeads(heads) {
          for (const [org, head] of heads) s.updateHead.run(head.seq, head.hash, org);
        },
        async insertKeys(rows) {
          for (const row of rows) s.insertKey.run(row);
        },
      });
      s.commit.run();
      return result;
    } catch (error) {
      if (connection.inTransaction) s.rollback.run();
      throw error;
    }
  } finally {
    await db.client.releaseConnection(connection);
  }
}
