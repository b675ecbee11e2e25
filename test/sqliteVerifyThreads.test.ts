// SQLite's verify threads (src/store/sqliteVerifiers.ts) only speed a full verification up: on a
// sound log they check it, and wherever a row does not check out, or a thread fails, the main
// thread's walk gives exactly the verdict it gives without them.
import { expect } from 'chai';
import knex, { type Knex } from 'knex';
import type { ChainVerification } from '../src/domain/api';
import { parseDatabaseUrl } from '../src/config';
import { AuditStore } from '../src/store/auditStore';
import { openDatabase } from '../src/store/db';
import { ErasureStore } from '../src/store/erasure';
import { LogStore } from '../src/store/logStore';
import { type Stretch, SqliteVerifiers, type VerifierOptions } from '../src/store/sqliteVerifiers';
import { createTestDatabase, type TestDatabase } from './helpers/databases';
import { seedSqliteChain } from './helpers/seed';
import { TAMPERINGS, where } from './helpers/tamperings';

/** Verify threads that count the stretches they checked out. */
class CountingVerifiers extends SqliteVerifiers {
  checked = 0;
  override async *stretches(imsOrgId: string, from: number, to: number): AsyncGenerator<Stretch> {
    for await (const stretch of super.stretches(imsOrgId, from, to)) {
      if (stretch.leaves) this.checked += stretch.to - stretch.from + 1;
      yield stretch;
    }
  }
}

describe('SQLite verify threads', function () {
  this.timeout(120_000);
  let database: TestDatabase;
  let filename: string;
  let db: Knex;
  let plain: LogStore;
  const threads: CountingVerifiers[] = [];
  let n = 0;
  const org = (label: string) => `VT-${label}-${++n}@AdobeOrg`;

  const withThreads = (options: VerifierOptions = {}) => {
    const verifiers = new CountingVerifiers({ filename, timeoutMs: 5000 }, { minEvents: 1, ...options });
    threads.push(verifiers);
    return { verifiers, log: new LogStore(db, false, { verifiers }) };
  };

  before(async () => {
    database = await createTestDatabase('sqlite');
    const config = parseDatabaseUrl(database.url);
    if (config.client !== 'sqlite') throw new Error('a SQLite database');
    filename = config.filename;
    const store = new AuditStore(openDatabase(parseDatabaseUrl(database.url)));
    await store.migrate();
    await store.close();
    db = knex({ client: 'better-sqlite3', connection: { filename }, useNullAsDefault: true });
    plain = new LogStore(db, false);
  });
  after(async () => {
    await Promise.all(threads.map((verifiers) => verifiers.close()));
    await db.destroy();
    await database.dispose();
  });

  it('check a sound log of several stretches, and give the main walk’s result', async () => {
    const tenant = org('sound');
    seedSqliteChain(filename, tenant, 9_000);
    const { verifiers, log } = withThreads({ threads: 2 });
    const progress: number[] = [];
    const withThem = await log.verify(tenant, { onProgress: (checked) => progress.push(checked) });
    expect(verifiers.checked).to.equal(9_000);
    expect(progress.at(-1)).to.equal(9_000);
    expect(withThem).to.deep.equal(await plain.verify(tenant));
    expect(withThem).to.include({ verified: true, count: 9_000 });
    // Since a size: the threads check only what came after it.
    const since = await log.verify(tenant, { since: 4_000 });
    expect(since).to.deep.equal(await plain.verify(tenant, { since: 4_000 }));
    expect(verifiers.checked).to.equal(9_000 + 5_000);
  });

  it('count the events erasure took personal data from, as the main walk does', async () => {
    const tenant = org('erased');
    seedSqliteChain(filename, tenant, 5_000);
    const subject = await db('audit_events')
      .where(where(tenant, 4_321))
      .first<{ user_identifier: string }>('user_identifier');
    const erasures = new ErasureStore(db, false);
    let erased = 0;
    for (;;) {
      const { erased: inBatch } = await erasures.eraseBatch(tenant, subject.user_identifier, 5_000, new Set(), 500);
      if (inBatch === 0) break;
      erased += inBatch;
    }
    expect(erased).to.be.above(0);
    const { verifiers, log } = withThreads({ threads: 2 });
    const verdict = await log.verify(tenant);
    expect(verifiers.checked).to.equal(5_000);
    expect(verdict).to.include({ verified: true, count: 5_000, erasedEvents: erased });
    expect(verdict).to.deep.equal(await plain.verify(tenant));
  });

  it('leave short walks to the main thread (minEvents)', async () => {
    const tenant = org('short');
    seedSqliteChain(filename, tenant, 100);
    const { verifiers, log } = withThreads({ minEvents: 101 });
    expect(await log.verify(tenant)).to.include({ verified: true, count: 100 });
    expect(verifiers.checked).to.equal(0);
  });

  for (const [name, tamper, brokenAt, reason] of TAMPERINGS) {
    it(`give the main walk’s verdict on ${name}`, async () => {
      const tenant = org('tamper');
      seedSqliteChain(filename, tenant, 5, () => ({ region: 'eu' }));
      await tamper(db, tenant);
      const { log } = withThreads();
      const verdict = await log.verify(tenant);
      expect(verdict).to.include({ verified: false, brokenAt });
      expect(verdict.reason).to.match(reason);
      expect(verdict).to.deep.equal(await plain.verify(tenant));
    });
  }

  // A stretch past the first that does not check out: the threads' leaves before it, the main walk from it.
  const farTamperings: [string, (tenant: string) => Promise<unknown>, RegExp][] = [
    ['an edited field', (t) => db('audit_events').where(where(t, 5_000)).update({ action: 'x' }), /leaf hash/],
    ['a deleted event', (t) => db('audit_events').where(where(t, 5_000)).delete(), /event 5000 is missing/],
  ];
  for (const [name, tamper, reason] of farTamperings) {
    it(`find ${name} in the third stretch of a long log`, async () => {
      const tenant = org('far');
      seedSqliteChain(filename, tenant, 6_000);
      await tamper(tenant);
      const { verifiers, log } = withThreads({ threads: 2 });
      const verdict: ChainVerification = await log.verify(tenant);
      expect(verdict).to.include({ verified: false, brokenAt: 5_000 });
      expect(verdict.reason).to.match(reason);
      expect(verdict).to.deep.equal(await plain.verify(tenant));
      // The first two stretches (2,048 events each) came from the threads.
      expect(verifiers.checked).to.equal(4_096);
    });
  }

  it('leave the walk to the main thread when a thread cannot start', async () => {
    const tenant = org('nothread');
    seedSqliteChain(filename, tenant, 3_000);
    const verifiers = new CountingVerifiers({ filename: `${filename}.absent`, timeoutMs: 5000 }, { minEvents: 1 });
    threads.push(verifiers);
    const verdict = await new LogStore(db, false, { verifiers }).verify(tenant);
    expect(verdict).to.include({ verified: true, count: 3_000 });
    expect(verifiers.checked).to.equal(0);
  });
});
