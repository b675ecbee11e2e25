import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import knex, { type Knex } from 'knex';
import type pg from 'pg';
import type { DatabaseConfig } from '../config';
import { migrationSource } from './migrations';
import { configureSqlite, type SqliteFile } from './sqliteConnection';

export interface DatabaseOptions {
  /**
   * How long any one wait on the database may take: connecting, waiting for a pooled
   * connection, a statement (including its lock waits). Past it the caller gets an error
   * the API answers with 503, so an outage fails fast instead of hanging requests.
   */
  timeoutMs: number;
  /** Where knex's own warnings go (e.g. a dropped connection); the console when unset. */
  log?: (level: 'warn' | 'error', message: string) => void;
}

// The client-side reply timeout is a little longer than the server's statement_timeout, so
// a slow statement is normally cancelled by the server, which keeps the connection usable.
const REPLY_GRACE_MS = 500;
// An idle pooled connection is probed this often, so a silently dropped one is noticed.
const KEEPALIVE_DELAY_MS = 10_000;

export function knexConfig(
  database: DatabaseConfig,
  { timeoutMs, log }: DatabaseOptions = { timeoutMs: 3000 },
): Knex.Config {
  const common = {
    acquireConnectionTimeout: timeoutMs,
    migrations: { migrationSource },
    ...(log && {
      log: {
        warn: (m: string) => log('warn', m),
        error: (m: string) => log('error', m),
        deprecate: () => {},
        debug: () => {},
      },
    }),
  };
  if (database.client === 'sqlite') {
    return {
      ...common,
      client: 'better-sqlite3',
      connection: { filename: database.filename },
      useNullAsDefault: true,
      pool: {
        // One connection, for reads, migrations and the rare writes outside event commits
        // (idempotency purge, shared secrets). Events are committed by the commit thread on a
        // connection of its own (sqliteWriter.ts). Waits on this one block the event loop.
        min: 1,
        max: 1,
        afterCreate(connection: BetterSqlite3.Database, done: (error: Error | null, connection: unknown) => void) {
          configureSqlite(connection, timeoutMs);
          done(null, connection);
        },
        // A failed COMMIT (SQLITE_BUSY, SQLITE_FULL, I/O error) can leave the transaction
        // open; closing the connection rolls it back, and the pool opens a fresh one.
        validate: (connection: BetterSqlite3.Database) => !connection.inTransaction,
      },
    };
  }
  return {
    ...common,
    client: 'pg',
    connection: {
      connectionString: database.connectionString,
      connectionTimeoutMillis: timeoutMs,
      // Server side: a statement (or its wait for a chain head locked by another instance)
      // is cancelled after the timeout; a session left idle inside a transaction, e.g. by an
      // instance cut off mid-commit, is ended so its head-row locks do not block the others.
      statement_timeout: timeoutMs,
      idle_in_transaction_session_timeout: 2 * timeoutMs,
      // Client side: a reply that never comes (the network or server is gone) fails the query.
      query_timeout: timeoutMs + REPLY_GRACE_MS,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
    } satisfies pg.ClientConfig,
    pool: {
      min: 0,
      max: 10,
      idleTimeoutMillis: 30_000,
      // Only a connection idle outside a transaction goes back to work; any other (one whose
      // reply timed out, or whose ROLLBACK never arrived) is closed, which aborts its transaction.
      validate: (connection: pg.Client) => connection.getTransactionStatus() === 'I',
    },
  };
}

export function createKnex(database: DatabaseConfig, options?: DatabaseOptions): Knex {
  createDatabaseFolder(database);
  const config = knexConfig(database, options);
  return database.client === 'postgres' ? closeTimedOutConnections(config) : knex(config);
}

/**
 * pg fails a query whose reply timed out but keeps its connection, with the statement still
 * outstanding. A transaction's ROLLBACK would queue behind it and time out too, doubling the
 * wait; closing the connection at once fails the transaction fast, and the server rolls it back.
 */
function closeTimedOutConnections(config: Knex.Config): Knex {
  const connections = new Map<string, pg.Client>();
  const db = knex({
    ...config,
    pool: {
      ...config.pool,
      afterCreate(connection: pg.Client & { __knexUid: string }, done: (error: Error | null, c: unknown) => void) {
        const uid = connection.__knexUid;
        connections.set(uid, connection);
        connection.once('end', () => connections.delete(uid));
        done(null, connection);
      },
    },
  });
  db.on('query-error', (error: Error, query: { __knexUid?: string }) => {
    if (/Query read timeout/.test(error.message))
      connections
        .get(query.__knexUid ?? '')
        ?.end()
        .catch(() => {});
  });
  return db;
}

/** SQLite creates its file but not the folder: `npm start` on a fresh clone needs data/. */
export function createDatabaseFolder(database: DatabaseConfig): void {
  if (database.client === 'sqlite' && database.filename !== ':memory:') {
    mkdirSync(path.dirname(path.resolve(database.filename)), { recursive: true });
  }
}

export function isPostgres(db: Knex): boolean {
  return db.client.config.client === 'pg';
}

/** The file and timeout of a SQLite knex instance made here, for the commit thread's own connection. */
export function sqliteFile(db: Knex): SqliteFile {
  const config = db.client.config as Knex.Config & { connection: { filename: string } };
  return { filename: config.connection.filename, timeoutMs: config.acquireConnectionTimeout! };
}
