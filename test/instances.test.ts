import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { describePostgres } from './helpers/databases';
import { Load } from './helpers/load';
import { postJson, sampleEvent, startService, type RunningService } from './helpers/service';
import { checkStored } from './helpers/sql';
import { authHeaders } from './helpers/tokens';

let orgCounter = 0;
const freshOrg = (label: string) => `${label}-${Date.now()}-${orgCounter++}@AdobeOrg`;

describePostgres('Several instances on one database', (database) => {
  let instances: RunningService[] = [];
  let headers: Record<string, string>;
  before(async () => {
    headers = await authHeaders({ orgs: '*' });
    // Two services, as two processes behind a load balancer would be: separate pools and
    // writers, one schema. Nothing in process memory is shared between them.
    instances = [await startService(database().url), await startService(database().url)];
  });
  after(async () => {
    await Promise.all(instances.map((instance) => instance.close()));
  });

  it('interleaved writes for the same tenants, with Idempotency-Key retries sent to both, are each stored exactly once in gapless chains', async function () {
    this.timeout(60_000);
    const orgs = [freshOrg('multi'), freshOrg('multi'), freshOrg('multi')];
    let turn = 0;
    const load = new Load({ url: () => instances[turn++ % 2].url, headers, orgs, concurrency: 16 });

    // Meanwhile, clients retrying: each request is sent to both instances twice at once,
    // with the same key, as a client would after a timeout behind a load balancer.
    const retries: { key: string; ids: string[][]; statuses: number[]; events: number }[] = [];
    for (let round = 0; round < 40; round++) {
      const key = randomUUID();
      const batch = round % 2 === 0;
      const events = Array.from({ length: batch ? 3 : 1 }, (_, i) =>
        sampleEvent({ imsOrgId: orgs[(round + i) % orgs.length], action: `retry-${round}-${i}` }),
      );
      const responses = await Promise.all(
        [0, 1, 0, 1].map((i) =>
          postJson(`${instances[i].url}${batch ? '/audits/batch' : '/audits'}`, batch ? events : events[0], {
            ...headers,
            'idempotency-key': key,
          }),
        ),
      );
      const bodies = await Promise.all(responses.map((res) => res.json()));
      const ids = bodies.map((body) => (batch ? (body as { ids: string[] }).ids : [body as string]));
      retries.push({ key, ids, statuses: responses.map((res) => res.status), events: events.length });
      ids[0].forEach((id, i) => load.acked.set(id, events[i].imsOrgId));
    }
    await load.waitFor(400, 30_000);
    await load.stop();

    expect(load.histogram()).to.have.keys(['201']);
    for (const retry of retries) {
      expect(retry.statuses, retry.key).to.deep.equal([201, 201, 201, 201]);
      // Every attempt answered the same ids: the first commit's.
      for (const ids of retry.ids) expect(ids).to.deep.equal(retry.ids[0]).and.have.length(retry.events);
    }
    const check = await checkStored(database().url, load.acked, orgs);
    expect(check.missing, 'acknowledged but not stored').to.deep.equal([]);
    expect(check.unacknowledged, 'stored but never acknowledged').to.deep.equal([]);
    expect(check.duplicated, 'stored twice').to.deep.equal([]);
    expect(check.brokenChains).to.deep.equal([]);
    expect(check.stored).to.equal(load.acked.size);
  });

  it('a retry racing its original on the other instance replays the original (no 500, nothing stored twice)', async function () {
    this.timeout(30_000);
    const org = freshOrg('race');
    const acked = new Map<string, string>();
    for (let round = 0; round < 50; round++) {
      const event = sampleEvent({ imsOrgId: org, action: `race-${round}` });
      const key = randomUUID();
      const responses = await Promise.all(
        instances.map((instance) => postJson(`${instance.url}/audits`, event, { ...headers, 'idempotency-key': key })),
      );
      expect(
        responses.map((res) => res.status),
        `round ${round}`,
      ).to.deep.equal([201, 201]);
      const [first, second] = await Promise.all(responses.map((res) => res.json() as Promise<string>));
      expect(second).to.equal(first);
      expect(responses.map((res) => res.headers.get('idempotent-replayed')).sort()).to.deep.equal(['false', 'true']);
      acked.set(first, org);
    }
    const check = await checkStored(database().url, acked, [org]);
    expect(check).to.deep.include({ missing: [], unacknowledged: [], duplicated: [], brokenChains: [], stored: 50 });
  });
});
