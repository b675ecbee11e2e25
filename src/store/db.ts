import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import knex, { type Knex } from 'knex';
import type { DatabaseConfig } from '../config';
import { migrationSource } from './migrations';
import type pg from 'pg';
import { connectionSettings, PostgresPool } from './postgresPool';
import { configureSqlite } from './sqliteConnection';

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

/** A service's database: knex for reads and migrations and, on PostgreSQL, the pool it shares with commits. */
export interface Database {
  readonly config: DatabaseConfig;
  /** DatabaseOptions.timeoutMs, for the connections opened beside knex's (the SQLite commit thread's). */
  readonly timeoutMs: number;
  readonly knex: Knex;
  /** PostgreSQL only: the one pool, for knex and the committer alike. */
  readonly pool?: PostgresPool;
  close(): Promise<void>;
}

/** Occupancy of the connections commits use. */
export interface PoolStats {
  used: number;
  free: number;
  /** Commits (on PostgreSQL also queries) waiting for a connection. */
  pendingAcquires: number;
}

/** Opens (without connecting yet) the database the configuration names. */
export function openDatabase(
  config: DatabaseConfig,
  { timeoutMs, log }: DatabaseOptions = { timeoutMs: 3000 },
): Database {
  createDatabaseFolder(config);
  const pool =
    config.client === 'postgres'
      ? new PostgresPool({
          connectionString: config.connectionString,
          timeoutMs,
          onIdleError: (error) => log?.('warn', `an idle database connection failed: ${error.message}`),
        })
      : undefined;
  const db = knex(knexConfig(config, { timeoutMs, log }, pool));
  return {
    config,
    timeoutMs,
    knex: db,
    pool,
    async close() {
      await db.destroy();
      // knex does not end a pool it was given.
      await pool?.end();
    },
  };
}

/**
 * knex's configuration. On PostgreSQL knex uses `pool` when given (the service's); without
 * one (the knex CLI, createKnex) knex keeps a pool of its own.
 */
export function knexConfig(
  database: DatabaseConfig,
  { timeoutMs, log }: DatabaseOptions = { timeoutMs: 3000 },
  pool?: PostgresPool,
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
        // connection of its own (sqliteCommitter.ts). Waits on this one block the event loop.
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
    ...(pool
      ? { connectionPool: pool }
      : {
          connection: connectionSettings(database.connectionString, timeoutMs),
          pool: {
            min: 0,
            max: 10,
            // Only a connection idle outside a transaction goes back to work (as in PostgresPool).
            validate: (connection: pg.Client) => connection.getTransactionStatus() === 'I',
          },
        }),
  };
}

/** A knex with a pool of its own, for tools and tests (scripts, direct SQL); destroy() closes it. */
export function createKnex(database: DatabaseConfig, options?: DatabaseOptions): Knex {
  createDatabaseFolder(database);
  return knex(knexConfig(database, options));
}

/** SQLite creates its file but not the folder: `npm start` on a fresh clone needs data/. */
export function createDatabaseFolder(database: DatabaseConfig): void {
  if (database.client === 'sqlite' && database.filename !== ':memory:') {
    mkdirSync(path.dirname(path.resolve(database.filename)), { recursive: true });
  }
}
