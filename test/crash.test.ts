import { expect } from 'chai';
import { killServices, spawnService } from './helpers/child';
import { describeEachDatabase } from './helpers/databases';
import { Load } from './helpers/load';
import { postJson, sampleEvent } from './helpers/service';
import { checkStored } from './helpers/sql';
import { authHeaders } from './helpers/tokens';

let orgCounter = 0;
const freshOrg = (label: string) => `${label}-${Date.now()}-${orgCounter++}@AdobeOrg`;

describeEachDatabase('Crash safety (SIGKILL under load)', (database) => {
  afterEach(killServices);

  it('keeps every acknowledged event and a gapless chain per tenant, and takes new events after a restart', async function () {
    this.timeout(60_000);
    const headers = await authHeaders({ orgs: '*' });
    const orgs = [freshOrg('crash'), freshOrg('crash'), freshOrg('crash')];
    const first = await spawnService(database().url);
    const load = new Load({ url: first.url, headers, orgs, concurrency: 16 });
    await load.waitFor(300, 30_000);
    const exit = await first.kill('SIGKILL');
    await load.stop();
    expect(exit.signal).to.equal('SIGKILL');
    const histogram = load.histogram();
    // Killed mid-load: requests were in flight and got no answer at all.
    expect(
      Object.keys(histogram).filter((status) => !/^\d+$/.test(status)),
      JSON.stringify(histogram),
    ).to.not.have.lengthOf(0);
    expect(Object.keys(histogram).filter((status) => /^\d+$/.test(status))).to.deep.equal(['201']);

    const second = await spawnService(database().url);
    const check = await checkStored(database().url, load.acked, orgs);
    expect(load.acked.size).to.be.greaterThan(300);
    expect(check.missing, 'acknowledged but not stored').to.deep.equal([]);
    expect(check.duplicated).to.deep.equal([]);
    expect(check.brokenChains).to.deep.equal([]);
    // Commits whose answer the crash cut off may be stored: they are the only extras.
    expect(check.stored).to.equal(load.acked.size + check.unacknowledged.length);

    const res = await postJson(
      `${second.url}/audits`,
      sampleEvent({ imsOrgId: orgs[0], action: 'after-restart' }),
      headers,
    );
    expect(res.status).to.equal(201);
    const verify = await fetch(`${second.url}/audits/verify?imsOrgId=${encodeURIComponent(orgs[0])}`, { headers });
    expect(await verify.json()).to.include({ verified: true });
    await second.kill('SIGTERM');
  });
});
