import { expect } from 'chai';
import { createAuditClient, createAuditLogger, type AuditEvent } from '@audit-service/client';
import { createTestDatabase, type TestDatabase } from './helpers/databases';
import { startFlakyHttpProxy } from './helpers/flakyHttpProxy';
import { sampleEvent, startService, type RunningService } from './helpers/service';
import { CLIENT_ID, mintToken, ORG } from './helpers/tokens';

const EVENTS = 10_000;

describe('createAuditLogger through a flaky path [sqlite]', () => {
  let database: TestDatabase;
  let running: RunningService;
  let proxy: Awaited<ReturnType<typeof startFlakyHttpProxy>>;
  before(async () => {
    database = await createTestDatabase('sqlite');
    running = await startService(database.url);
    proxy = await startFlakyHttpProxy(running.url, {
      unavailable: 0.08,
      resetBefore: 0.1,
      resetAfter: 0.12,
      delay: 0.15,
    });
  });
  after(async () => {
    await proxy?.close();
    await running?.close();
    await database?.dispose();
  });

  it(`stores each of ${EVENTS} events exactly once despite 503s, resets and delays, and close() returns after the last is acknowledged`, async function () {
    this.timeout(60_000);
    const token = await mintToken();
    const audit = createAuditLogger({
      baseUrl: proxy.url,
      apiKey: CLIENT_ID,
      token,
      maxBatchSize: 200,
      maxBufferedEvents: 2000,
      overflow: 'block',
      retry: { baseDelayMs: 20, maxDelayMs: 2000 },
    });
    const started = Date.now();
    for (let i = 0; i < EVENTS; i++) {
      await audit.log({ ...(sampleEvent() as AuditEvent), resource: { resourceId: `item/${i}` } });
    }
    await audit.close();
    const closedAt = Date.now();

    expect(audit.metrics()).to.deep.include({ sent: EVENTS, dropped: 0, failed: 0, pending: 0 });
    const client = createAuditClient({ baseUrl: running.url, apiKey: CLIENT_ID, token });
    const verified = await client.GET('/audits/verify', { params: { query: { imsOrgId: ORG } } });
    expect(verified.data).to.include({ verified: true, count: EVENTS, headSeq: EVENTS });

    const seen = new Set<string>();
    let stored = 0;
    let cursor: string | undefined;
    do {
      const page = await client.GET('/audits', { params: { query: { imsOrgId: ORG, limit: 1000, cursor } } });
      for (const item of page.data!.items) {
        stored += 1;
        seen.add(item.resource.resourceId);
      }
      cursor = page.data!.nextCursor ?? undefined;
    } while (cursor);
    expect(stored).to.equal(EVENTS);
    expect(seen.size).to.equal(EVENTS);

    // Every fault happened, and the lost answers were replayed by key rather than stored twice.
    const faults = proxy.requests.map((r) => r.fault);
    for (const fault of ['503', 'reset-before', 'reset-after', 'delay'] as const) expect(faults).to.include(fault);
    expect(proxy.requests.filter((r) => r.replayed).length).to.be.above(0);
    // Retry-After: 1 was honoured: a batch's next attempt came at least a second after its 503.
    for (const [i, request] of proxy.requests.entries()) {
      if (request.fault !== '503') continue;
      const next = proxy.requests.slice(i + 1).find((r) => r.key === request.key);
      expect(next!.at - request.at).to.be.at.least(990);
    }
    // The last acknowledgement passed on came before close() returned.
    const answered = proxy.requests.filter((r) => r.status === 201 && r.answeredAt !== undefined);
    expect(Math.max(...answered.map((r) => r.answeredAt!))).to.be.at.most(closedAt);
    const tally: Record<string, number> = {};
    for (const fault of faults) tally[fault] = (tally[fault] ?? 0) + 1;
    console.log(
      `      ${proxy.requests.length} requests for ${EVENTS / 200} batches in ${closedAt - started} ms, ` +
        `${proxy.requests.filter((r) => r.replayed).length} replayed; faults ${JSON.stringify(tally)}; ` +
        `retried ${audit.metrics().retried} events`,
    );
  });
});
