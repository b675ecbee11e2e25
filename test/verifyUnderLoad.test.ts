import { expect } from 'chai';
import { describeEachDatabase } from './helpers/databases';
import { Load } from './helpers/load';
import { postJson, sampleEvent, startService, type RunningService } from './helpers/service';
import { authHeaders } from './helpers/tokens';

let orgCounter = 0;
const freshOrg = (label: string) => `${label}-${Date.now()}-${orgCounter++}@AdobeOrg`;

describeEachDatabase('GET /audits/verify while events are written', (database) => {
  let running: RunningService;
  before(async () => {
    running = await startService(database().url);
  });
  after(() => running?.close());

  it('reports an intact chain as verified, however the writes interleave with its pages', async function () {
    this.timeout(60_000);
    const headers = await authHeaders({ orgs: '*' });
    const org = freshOrg('verify-load');
    const load = new Load({ url: running.url, headers, orgs: [org], concurrency: 8 });
    await load.waitFor(300, 20_000);
    const results: Record<string, unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${running.url}/audits/verify?imsOrgId=${encodeURIComponent(org)}`, { headers });
      results.push((await res.json()) as Record<string, unknown>);
    }
    await load.stop();
    expect(results.filter((r) => !r.verified)).to.deep.equal([]);
  });

  it('lets other requests through while it verifies a long chain', async function () {
    this.timeout(60_000);
    const headers = await authHeaders({ orgs: '*' });
    const org = freshOrg('verify-long');
    for (let i = 0; i < 20; i++) {
      const batch = Array.from({ length: 1000 }, (_, j) => sampleEvent({ imsOrgId: org, action: `long-${i}-${j}` }));
      expect((await postJson(`${running.url}/audits/batch`, batch, headers)).status).to.equal(201);
    }
    let verifiedAt = 0;
    const verify = fetch(`${running.url}/audits/verify?imsOrgId=${encodeURIComponent(org)}`, { headers }).then(
      async (res) => {
        verifiedAt = Date.now();
        return res.json();
      },
    );
    // Give the verification a head start, then ask for something cheap.
    await new Promise((resolve) => setTimeout(resolve, 20));
    await fetch(`${running.url}/health/live`);
    const liveAt = Date.now();
    expect(await verify).to.include({ verified: true, count: 20_000 });
    expect(liveAt, 'answered before the verification finished').to.be.below(verifiedAt);
  });
});
