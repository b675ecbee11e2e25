import { execFileSync } from 'node:child_process';
import { expect } from 'chai';
import Database from 'better-sqlite3';
import { killServices, spawnService, type ChildService } from './helpers/child';
import { createTestDatabase, type TestDatabase } from './helpers/databases';
import { postJson, sampleEvent } from './helpers/service';
import { checkStored } from './helpers/sql';
import { authHeaders } from './helpers/tokens';

const UNAVAILABLE = { reason: 'service_unavailable', message: 'the database is unavailable; retry later' };

/**
 * Whether a fault can be caused on this machine. CI (root, ext4, util-linux) always can, and
 * there a missing tool is a failure; elsewhere (a newcomer's laptop) the test is skipped with
 * a visible line instead.
 */
function skipUnlessPossible(context: Mocha.Context, what: string, probe: () => void): void {
  try {
    probe();
  } catch (error) {
    const reason = `${what}: ${(error as Error).message.split('\n')[0]}`;
    if (process.env.CI) throw new Error(`cannot cause this fault, and CI must: ${reason}`, { cause: error });
    console.log(`      SKIPPED (this machine cannot cause the fault) ${reason}`);
    context.skip();
  }
}

// Faults a SQLite file meets in production, caused for real: the tests run as root (CI does),
// and root ignores file permissions, so "read-only" and "full" are made with mechanisms that
// bind root too.
describe('SQLite faults [sqlite]', () => {
  let database: TestDatabase;
  let service: ChildService;
  let headers: Record<string, string>;
  let acked: Map<string, string>;
  let write: (n?: number) => Promise<Response>;
  const org = 'ORG-A@AdobeOrg';
  const file = () => database.url.slice('sqlite:'.length);

  beforeEach(async () => {
    database = await createTestDatabase('sqlite');
    headers = await authHeaders();
    acked = new Map();
    let counter = 0;
    write = async (n = 1) => {
      const events = Array.from({ length: n }, () =>
        sampleEvent({ action: `fault-${counter++}`, userIdentifier: 'u'.repeat(500) }),
      );
      const res = await postJson(`${service.url}/audits/batch`, events, headers);
      if (res.status === 201) {
        ((await res.clone().json()) as { ids: string[] }).ids.forEach((id) => acked.set(id, org));
      }
      return res;
    };
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.log(service?.output().slice(-4000));
    await killServices();
    await database.dispose();
  });

  /** While the fault lasts: writes 503 at once, reads and probes keep working, the process lives. */
  async function expectWritesRefusedReadsServed(): Promise<void> {
    for (let i = 0; i < 3; i++) {
      const res = await write(1);
      expect(res.status).to.equal(503);
      expect(res.headers.get('retry-after')).to.equal('1');
      expect(await res.json()).to.deep.equal(UNAVAILABLE);
    }
    const verify = await fetch(`${service.url}/audits/verify?imsOrgId=${encodeURIComponent(org)}`, { headers });
    expect(verify.status).to.equal(200);
    expect(await verify.json()).to.include({ verified: true, count: acked.size });
    expect((await fetch(`${service.url}/health/ready`)).status).to.equal(200);
    expect((await fetch(`${service.url}/health/live`)).status).to.equal(200);
    expect(service.alive()).to.equal(true);
  }

  /** After the fault: writes succeed again without a restart, and nothing acknowledged was lost. */
  async function expectRecovered(): Promise<void> {
    expect((await write(5)).status).to.equal(201);
    const check = await checkStored(database.url, acked, [org]);
    expect(check).to.deep.include({ missing: [], unacknowledged: [], duplicated: [], brokenChains: [] });
  }

  it('a full disk (a file-size limit the kernel enforces, as a full disk refuses a write): 503, reads served, writes resume', async function () {
    this.timeout(30_000);
    skipUnlessPossible(this, 'prlimit (util-linux) is needed', () =>
      execFileSync('prlimit', ['--version'], { stdio: 'ignore' }),
    );
    // RLIMIT_FSIZE: writing past 2 MB fails with EFBIG, which SQLite reports as an I/O error,
    // the same way it reports ENOSPC. The hard limit stays unlimited, so it can be raised later.
    service = await spawnService(database.url, { wrapper: ['prlimit', '--fsize=2000000:unlimited', '--'] });
    // Fill it: batches until one is refused, then single events until they are refused too.
    for (const size of [100, 1]) {
      for (let i = 0; i < 500 && (await write(size)).status === 201; i++);
    }
    // Enough was stored before the limit that the fault hits a database in use.
    expect(acked.size).to.be.greaterThan(100);
    await expectWritesRefusedReadsServed();

    execFileSync('prlimit', ['--pid', String(service.pid), '--fsize=unlimited:unlimited']);
    await expectRecovered();
  });

  it('a read-only file (chattr +i, which binds root, unlike chmod): 503, reads served, writes resume', async function () {
    this.timeout(30_000);
    skipUnlessPossible(this, 'chattr +i needs root and a filesystem that supports it', () => {
      if (process.getuid?.() !== 0) throw new Error('not running as root');
      const probe = `${file()}.chattr-probe`;
      execFileSync('touch', [probe]);
      execFileSync('chattr', ['+i', probe], { stdio: 'pipe' });
      execFileSync('chattr', ['-i', probe]);
      execFileSync('rm', [probe]);
    });
    service = await spawnService(database.url);
    expect((await write(10)).status).to.equal(201);
    // The database and its write-ahead log. Not the -shm index: SQLite maps it into memory, and
    // a mapped file made immutable kills the process with SIGBUS at the next write to it.
    const files = [file(), `${file()}-wal`];
    execFileSync('chattr', ['+i', ...files]);
    try {
      await expectWritesRefusedReadsServed();
    } finally {
      execFileSync('chattr', ['-i', ...files]);
    }
    await expectRecovered();
  });

  it('another process holding the write lock (a backup, the sqlite3 shell): 503 after DB_TIMEOUT_MS, reads served, writes resume', async function () {
    this.timeout(30_000);
    service = await spawnService(database.url, { env: { DB_TIMEOUT_MS: '300' } });
    expect((await write(10)).status).to.equal(201);
    const other = new Database(file());
    other.exec('BEGIN IMMEDIATE');
    try {
      const start = Date.now();
      await expectWritesRefusedReadsServed();
      // Three refused writes, each after the busy timeout (and no longer).
      expect(Date.now() - start).to.be.within(3 * 300, 3 * 300 + 2000);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    await expectRecovered();
  });
});
