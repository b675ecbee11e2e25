import { expect } from 'chai';
import { describeEachDatabase, describePostgres } from './helpers/databases';
import { Load } from './helpers/load';
import { postJson, sampleEvent, startService, type RunningService } from './helpers/service';
import { checkStored, withKnex } from './helpers/sql';
import { authHeaders } from './helpers/tokens';

let orgCounter = 0;
const freshOrg = (label: string) => `${label}-${Date.now()}-${orgCounter++}@AdobeOrg`;
const queueFull = (limit: number) => ({
  reason: 'service_unavailable',
  message: `the write queue is full (${limit} events); retry shortly`,
});

/** The deepest the write queue got while `work` ran: measured at each admission, where it peaks. */
async function deepestQueue(running: RunningService, work: () => Promise<void>): Promise<number> {
  const writer = running.service.writer;
  const write = writer.write.bind(writer);
  let deepest = 0;
  writer.write = (request) => {
    const outcome = write(request);
    deepest = Math.max(deepest, writer.depth);
    return outcome;
  };
  try {
    await work();
  } finally {
    writer.write = write;
  }
  return deepest;
}

describeEachDatabase('Backpressure', (database) => {
  const LIMIT = 20;
  let running: RunningService;
  before(async () => {
    running = await startService(database().url, { WRITE_QUEUE_MAX_EVENTS: String(LIMIT) });
  });
  after(() => running?.close());

  it('a flood past WRITE_QUEUE_MAX_EVENTS gets 503 ErrorResponse with Retry-After; the queue stays bounded; every 201 is stored', async function () {
    this.timeout(30_000);
    const orgs = [freshOrg('flood'), freshOrg('flood')];
    const load = new Load({
      url: running.url,
      headers: await authHeaders({ orgs: '*' }),
      orgs,
      concurrency: 64,
      maxBatch: 10,
    });
    const deepest = await deepestQueue(running, async () => {
      await load.waitFor(1500, 20_000);
      await load.stop();
    });

    expect(deepest).to.be.within(1, LIMIT);
    const histogram = load.histogram();
    expect(Object.keys(histogram), JSON.stringify(histogram)).to.have.members(['201', '503']);
    for (const outcome of load.outcomes.filter((o) => o.status === 503)) {
      expect(outcome.body).to.deep.equal(queueFull(LIMIT));
      expect(outcome.retryAfter).to.equal('1');
    }
    const check = await checkStored(database().url, load.acked, orgs);
    expect(check).to.deep.include({ missing: [], unacknowledged: [], duplicated: [], brokenChains: [] });
  });
});

describePostgres('Backpressure while the database stalls', (database) => {
  const LIMIT = 50;
  let running: RunningService;
  before(async () => {
    // A timeout longer than the stall, so the stalled commit waits rather than fails.
    running = await startService(database().url, { WRITE_QUEUE_MAX_EVENTS: String(LIMIT), DB_TIMEOUT_MS: '10000' });
  });
  after(() => running?.close());

  it('refuses writes past the bound at once, holds at most the bound, and commits those once the database moves', async function () {
    this.timeout(30_000);
    const org = freshOrg('stall');
    const headers = await authHeaders({ orgs: [org] });
    const post = (i: number) =>
      postJson(`${running.url}/audits`, sampleEvent({ imsOrgId: org, action: `stall-${i}` }), headers);
    expect((await post(-1)).status).to.equal(201);

    await withKnex(database().url, async (db) => {
      // Another session holds the tenant's chain head: every commit for it waits.
      const holder = await db.transaction();
      await holder('audit_log_heads').where({ ims_org_id: org }).forUpdate();
      const answered: { status: number; ms: number; id?: string }[] = [];
      const started = Date.now();
      let pending: Promise<unknown>[] = [];
      const deepest = await deepestQueue(running, async () => {
        pending = Array.from({ length: 200 }, (_, i) =>
          post(i).then(async (res) =>
            answered.push({ status: res.status, ms: Date.now() - started, id: (await res.json()) as string }),
          ),
        );
        await new Promise((resolve) => setTimeout(resolve, 1500));
      });
      // While the database is stalled: the bound is held, and everything past it is refused at once.
      expect(deepest).to.equal(LIMIT);
      expect(answered.map((a) => a.status)).to.deep.equal(Array(200 - LIMIT).fill(503));
      expect(Math.max(...answered.map((a) => a.ms))).to.be.below(1000);

      await holder.rollback();
      await Promise.all(pending);
      const committed = answered.filter((a) => a.status === 201);
      expect(committed).to.have.length(LIMIT);
      const check = await checkStored(database().url, new Map(committed.map((a) => [a.id!, org])), [org]);
      expect(check.missing).to.deep.equal([]);
      expect(check.stored).to.equal(LIMIT + 1);
      expect(check.brokenChains).to.deep.equal([]);
    });
  });
});
