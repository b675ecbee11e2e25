import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

export type DatabaseKind = 'sqlite' | 'postgres';

export interface TestDatabase {
  kind: DatabaseKind;
  /** A DATABASE_URL for the service: a fresh SQLite file, or a fresh PostgreSQL schema. */
  url: string;
  dispose(): Promise<void>;
}

export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL || '';

/** SQLite always; PostgreSQL when TEST_POSTGRES_URL names a server (CI always sets it). */
export const DATABASE_KINDS: DatabaseKind[] = TEST_POSTGRES_URL ? ['sqlite', 'postgres'] : ['sqlite'];

let noticed = false;
function noticeSkippedPostgres(): void {
  if (TEST_POSTGRES_URL || noticed) return;
  noticed = true;
  console.log('\n  NOTICE: TEST_POSTGRES_URL is not set, so the PostgreSQL tests are SKIPPED (only SQLite runs).\n');
}

/** A fresh SQLite file, or a fresh schema on the PostgreSQL server at `postgresUrl`. */
export async function createTestDatabase(kind: DatabaseKind, postgresUrl = TEST_POSTGRES_URL): Promise<TestDatabase> {
  if (kind === 'sqlite') {
    const dir = await mkdtemp(path.join(tmpdir(), 'audit-test-'));
    return {
      kind,
      url: `sqlite:${path.join(dir, 'audit.db')}`,
      dispose: () => rm(dir, { recursive: true, force: true }),
    };
  }
  // Each database gets its own schema, so runs never see each other's rows; search_path
  // travels in the URL, so the service and child processes need no test-only setting.
  const schema = `test_${Date.now()}_${randomBytes(4).toString('hex')}`;
  await withPostgres(postgresUrl, (client) => client.query(`CREATE SCHEMA ${schema}`));
  const url = new URL(postgresUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    kind,
    url: url.toString(),
    dispose: () =>
      withPostgres(postgresUrl, (client) => client.query(`DROP SCHEMA ${schema} CASCADE`)).then(() => undefined),
  };
}

async function withPostgres<T>(postgresUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Declares the suite once per database, named `title [sqlite]` / `title [postgres]`. The suite
 * learns its kind, so a test that only one database can have is declared only there (never skipped).
 */
export function describeEachDatabase(
  title: string,
  suite: (database: () => TestDatabase, kind: DatabaseKind) => void,
): void {
  noticeSkippedPostgres();
  for (const kind of DATABASE_KINDS) {
    describe(`${title} [${kind}]`, function () {
      let database: TestDatabase;
      before(async () => {
        database = await createTestDatabase(kind);
      });
      after(async () => {
        await database?.dispose();
      });
      suite(() => database, kind);
    });
  }
}

/** Declares a PostgreSQL-only suite, `title [postgres]`, when TEST_POSTGRES_URL is set (see the NOTICE above). */
export function describePostgres(title: string, suite: (database: () => TestDatabase) => void): void {
  noticeSkippedPostgres();
  if (!DATABASE_KINDS.includes('postgres')) return;
  describe(`${title} [postgres]`, function () {
    let database: TestDatabase;
    before(async () => {
      database = await createTestDatabase('postgres');
    });
    after(async () => {
      await database?.dispose();
    });
    suite(() => database);
  });
}
