import type { Knex } from 'knex';
import { parseDatabaseUrl } from '../../src/config';
import { createKnex } from '../../src/store/db';

/** Direct SQL for tests that must look at (or tamper with) what is stored. */
export async function withKnex<T>(databaseUrl: string, work: (db: Knex) => Promise<T>): Promise<T> {
  const db = createKnex(parseDatabaseUrl(databaseUrl));
  try {
    return await work(db);
  } finally {
    await db.destroy();
  }
}

export async function countEvents(databaseUrl: string): Promise<number> {
  return withKnex(databaseUrl, async (db) => Number((await db('audit_events').count({ n: '*' }))[0].n));
}
