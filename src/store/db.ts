import { mkdirSync } from 'node:fs';
import path from 'node:path';
import knex, { type Knex } from 'knex';
import type { DatabaseConfig } from '../config';
import { migrationSource } from './migrations';

export interface DatabaseOptions {
  /** Bounds connecting and waiting for a pooled connection, so an outage fails fast. */
  timeoutMs: number;
}

export function knexConfig(database: DatabaseConfig, { timeoutMs }: DatabaseOptions = { timeoutMs: 3000 }): Knex.Config {
  const common = { acquireConnectionTimeout: timeoutMs, migrations: { migrationSource } };
  if (database.client === 'sqlite') {
    return {
      ...common,
      client: 'better-sqlite3',
      connection: { filename: database.filename },
      useNullAsDefault: true,
      pool: {
        // One connection: SQLite has one writer, and a single connection keeps the
        // in-process write order the commit order.
        min: 1,
        max: 1,
        afterCreate(connection: { pragma(source: string): unknown }, done: (error: Error | null, connection: unknown) => void) {
          connection.pragma('journal_mode = WAL');
          // FULL: a committed transaction survives power loss, which a 201 promises.
          connection.pragma('synchronous = FULL');
          connection.pragma(`busy_timeout = ${timeoutMs}`);
          done(null, connection);
        },
      },
    };
  }
  return {
    ...common,
    client: 'pg',
    connection: {
      connectionString: database.connectionString,
      connectionTimeoutMillis: timeoutMs,
      keepAlive: true,
    },
    pool: { min: 0, max: 10, idleTimeoutMillis: 30_000 },
  };
}

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

export function isPostgres(db: Knex): boolean {
  return db.client.config.client === 'pg';
}
