import { expect } from 'chai';
import { spawnService, killServices, type ChildService } from './helpers/child';
import { describePostgres, TEST_POSTGRES_URL } from './helpers/databases';
import { Load } from './helpers/load';
import { sampleEvent } from './helpers/service';
import { checkStored } from './helpers/sql';
import { TcpProxy } from './helpers/tcpProxy';
import { authHeaders } from './helpers/tokens';

// The bound: during an outage every request is answered within this, never left hanging.
const ANSWER_WITHIN_MS = 5000;
let orgCounter = 0;
const freshOrg = (label: string) => `${label}-${Date.now()}-${orgCounter++}@AdobeOrg`;

async function timed(
  request: Promise<Response>,
): Promise<{ status: number; ms: number; body: unknown; retryAfter: string | null }> {
  const start = Date.now();
  const res = await request;
  return {
    status: res.status,
    body: await res.json(),
    ms: Date.now() - start,
    retryAfter: res.headers.get('retry-after'),
  };
}

describePostgres('Database outage (through a TCP proxy the test cuts)', (database) => {
  let proxy: TcpProxy;
  let service: ChildService;
  let headers: Record<string, string>;

  beforeEach(async () => {
    headers = await authHeaders({ orgs: '*' });
    const target = new URL(TEST_POSTGRES_URL);
    proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 5432) });
    // The default DB_TIMEOUT_MS: the bound must hold as shipped.
    service = await spawnService(proxy.url(database().url));
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.log(service?.output().slice(-4000));
    await killServices();
    await proxy.close();
  });

  const faults = [
    ['refuse', 'the server goes away (connections reset, new ones refused)'],
    ['blackhole', 'the network partitions (nothing answers; only timeouts end the wait)'],
  ] as const;
  for (const [mode, what] of faults) {
    it(`${what}: 503 within 5 s, ready 503, live 200; recovers by itself, keeping every acknowledged event`, async function () {
      this.timeout(60_000);
      const orgs = [freshOrg(`outage-${mode}`), freshOrg(`outage-${mode}`)];
      const load = new Load({ url: service.url, headers, orgs, concurrency: 8 });
      await load.waitFor(40);
      const beforeCut = load.outcomes.length;
      proxy.cut(mode);

      const verifyUrl = `${service.url}/audits/verify?imsOrgId=${encodeURIComponent(orgs[0])}`;
      const [verify, ready, live, post] = await Promise.all([
        timed(fetch(verifyUrl, { headers })),
        timed(fetch(`${service.url}/health/ready`)),
        timed(fetch(`${service.url}/health/live`)),
        timed(
          fetch(`${service.url}/audits`, {
            method: 'POST',
            headers: { ...headers, 'content-type': 'application/json' },
            body: JSON.stringify(sampleEvent({ imsOrgId: orgs[0] })),
          }),
        ),
      ]);
      for (const answer of [verify, ready, post]) {
        expect(answer.status).to.equal(503);
        expect(answer.body).to.deep.equal({
          reason: 'service_unavailable',
          message: 'the database is unavailable; retry later',
        });
        expect(answer.retryAfter).to.equal('1');
        expect(answer.ms).to.be.below(ANSWER_WITHIN_MS);
      }
      expect(live).to.include({ status: 200 });
      expect(live.ms).to.be.below(500);
      // Keep the database away long enough for the writers to see the outage too.
      await load.waitFor(2 * 8, 15_000);
      expect(service.alive(), 'the process is still running').to.equal(true);

      await proxy.restore();
      const restoredAt = load.elapsed();
      const ackedBeforeRestore = load.acked.size;
      // Recovery needs no restart: the same process takes writes again within seconds.
      await load.waitFor(40, 15_000);
      await load.stop();
      const recovered = load.outcomes.find((o) => o.status === 201 && o.at >= restoredAt);
      expect(recovered, 'a write succeeded after the restore').to.not.equal(undefined);
      expect(recovered!.at - restoredAt).to.be.below(5000);

      const during = load.outcomes.slice(beforeCut);
      expect(service.alive(), 'the process is still running').to.equal(true);
      const histogram = load.histogram(during);
      expect(Object.keys(histogram), JSON.stringify(histogram)).to.have.members(['201', '503']);
      expect(histogram['503']).to.be.greaterThan(0);
      for (const outcome of during) {
        expect(outcome.ms, `answered within ${ANSWER_WITHIN_MS} ms`).to.be.below(ANSWER_WITHIN_MS);
        if (outcome.status === 503) expect(outcome.retryAfter).to.equal('1');
      }
      expect(load.acked.size).to.be.greaterThan(ackedBeforeRestore);

      const check = await checkStored(database().url, load.acked, orgs);
      expect(check.missing, 'acknowledged but not stored').to.deep.equal([]);
      expect(check.duplicated).to.deep.equal([]);
      expect(check.brokenChains).to.deep.equal([]);
    });
  }
});
