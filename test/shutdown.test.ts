import { expect } from 'chai';
import { killServices, spawnService } from './helpers/child';
import { describeEachDatabase } from './helpers/databases';
import { Load } from './helpers/load';
import { checkStored } from './helpers/sql';
import { authHeaders } from './helpers/tokens';

let orgCounter = 0;
const freshOrg = (label: string) => `${label}-${Date.now()}-${orgCounter++}@AdobeOrg`;

describeEachDatabase('Graceful shutdown', (database) => {
  afterEach(killServices);

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`on ${signal} under load: in-flight requests finish, later ones are refused, every 201 is stored; exit 0 within 10 s`, async function () {
      this.timeout(60_000);
      const headers = await authHeaders({ orgs: '*' });
      const orgs = [freshOrg('shutdown'), freshOrg('shutdown')];
      const service = await spawnService(database().url);
      const load = new Load({ url: service.url, headers, orgs, concurrency: 16 });
      await load.waitFor(200, 30_000);
      const signalledAt = load.elapsed();
      const start = Date.now();
      service.process.kill(signal);
      const exit = await service.exited;
      const took = Date.now() - start;
      // Keep sending a little after the exit, so refusals are seen too.
      await new Promise((resolve) => setTimeout(resolve, 100));
      await load.stop();

      expect(exit).to.deep.equal({ code: 0, signal: null });
      expect(took).to.be.below(10_000);
      const histogram = load.histogram();
      // No error statuses: a request is either answered 201 or never taken (refused, or its idle
      // keep-alive connection closed before it was read).
      expect(
        Object.keys(histogram).filter((status) => /^\d+$/.test(status)),
        JSON.stringify(histogram),
      ).to.deep.equal(['201']);
      expect(histogram.ECONNREFUSED, JSON.stringify(histogram)).to.be.greaterThan(0);
      // Requests in flight when the signal came were finished, not dropped.
      expect(load.outcomes.some((o) => o.status === 201 && o.at > signalledAt)).to.equal(true);

      const check = await checkStored(database().url, load.acked, orgs);
      expect(check.missing, '201 but not stored').to.deep.equal([]);
      expect(check.unacknowledged, 'stored but the client never got its 201').to.deep.equal([]);
      expect(check.duplicated).to.deep.equal([]);
      expect(check.brokenChains).to.deep.equal([]);
      expect(service.output()).to.contain('shut down cleanly');
    });
  }
});
