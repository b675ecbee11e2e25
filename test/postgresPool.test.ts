import { expect } from 'chai';
import { parseDatabaseUrl } from '../src/config';
import { FAULT_CODES, isUnavailable } from '../src/store/errors';
import { PostgresPool } from '../src/store/postgresPool';
import { describePostgres } from './helpers/databases';
import { TcpProxy } from './helpers/tcpProxy';

// The service's PostgreSQL pool tells a fault by its error code, set by the pool itself where
// node-postgres gives none, and never pools a connection that faulted.
describePostgres('The PostgreSQL pool', (database) => {
  const TIMEOUT_MS = 300;
  let proxy: TcpProxy;
  let pool: PostgresPool;
  beforeEach(async () => {
    const target = new URL(database().url);
    proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 5432) });
    const config = parseDatabaseUrl(proxy.url(database().url));
    pool = new PostgresPool({
      connectionString: (config as { connectionString: string }).connectionString,
      timeoutMs: TIMEOUT_MS,
    });
  });
  afterEach(async () => {
    await proxy.close();
    await pool.end().catch(() => {});
  });

  const failure = (work: Promise<unknown>) =>
    work.then(
      () => expect.fail('expected a failure'),
      (error: unknown) => error as Error & { code?: string },
    );

  it('fails a statement without a reply after the reply timeout, coded, and closes its connection instead of pooling it', async () => {
    const client = await pool.connect();
    await client.query('SELECT 1');
    proxy.cut('blackhole');
    const started = Date.now();
    const error = await failure(client.query('SELECT 1'));
    expect(error.code).to.equal(FAULT_CODES.replyTimeout);
    expect(isUnavailable(error)).to.equal(true);
    // The reply timeout is the statement timeout plus 500 ms of grace.
    expect(Date.now() - started).to.be.within(TIMEOUT_MS + 400, TIMEOUT_MS + 1500);
    client.release();
    expect(pool.totalCount, 'the timed-out connection went back to the pool').to.equal(0);
    await proxy.restore();
    const fresh = await pool.connect();
    try {
      expect((await fresh.query('SELECT 2 AS n')).rows).to.deep.equal([{ n: 2 }]);
    } finally {
      fresh.release();
    }
  });

  it('fails a query on a connection that was reset with a code that means unavailable', async () => {
    const client = await pool.connect();
    await client.query('SELECT 1');
    proxy.cut('refuse');
    const error = await failure(client.query('SELECT 1'));
    expect(isUnavailable(error), `${error.code}: ${error.message}`).to.equal(true);
    expect([FAULT_CODES.connectionLost, 'ECONNRESET']).to.include(error.code);
    client.release();
    expect(pool.totalCount).to.equal(0);
  });

  it('fails to hand out a connection within the timeout with a coded fault', async () => {
    proxy.cut('blackhole');
    const started = Date.now();
    const error = await failure(pool.connect());
    expect(error.code).to.equal(FAULT_CODES.connectFailed);
    expect(isUnavailable(error)).to.equal(true);
    expect(Date.now() - started).to.be.within(TIMEOUT_MS - 50, TIMEOUT_MS + 1000);
  });

  it('does not pool a connection released inside a transaction', async () => {
    const client = await pool.connect();
    await client.query('BEGIN');
    client.release();
    expect(pool.totalCount).to.equal(0);
    const clean = await pool.connect();
    try {
      expect((await clean.query('SELECT 1 AS n')).rows).to.deep.equal([{ n: 1 }]);
      clean.release();
      expect(pool.idleCount, 'a clean connection is pooled').to.equal(1);
    } catch (error) {
      clean.release();
      throw error;
    }
  });
});
