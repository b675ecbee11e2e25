import { expect } from 'chai';
import { describeEachDatabase } from './helpers/databases';
import { postJson, sampleEvent, startService, type RunningService } from './helpers/service';
import { authHeaders } from './helpers/tokens';

type Samples = Map<string, number>;

/** Prometheus text → value by `name{label="value",…}`, labels sorted so their order does not matter. */
function parseExposition(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    const found = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!found) continue;
    const labels = (found[2] ?? '').match(/\w+="[^"]*"/g) ?? [];
    samples.set(`${found[1]}{${labels.sort().join(',')}}`, Number(found[3]));
  }
  return samples;
}

const key = (name: string, labels: Record<string, string> = {}) =>
  `${name}{${Object.entries(labels)
    .map(([label, value]) => `${label}="${value}"`)
    .sort()
    .join(',')}}`;

describeEachDatabase('GET /metrics', (database) => {
  let running: RunningService;
  before(async () => {
    running = await startService(database().url);
  });
  after(() => running?.close());

  const scrape = async (): Promise<Samples> => {
    const res = await fetch(`${running.url}/metrics`);
    expect(res.status).to.equal(200);
    return parseExposition(await res.text());
  };

  it('serves the Prometheus text format, without credentials, with the default process metrics', async () => {
    const res = await fetch(`${running.url}/metrics`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    for (const name of [
      'audit_http_requests_total',
      'audit_http_request_duration_seconds',
      'audit_events_accepted_total',
      'audit_events_rejected_total',
      'audit_event_batch_size',
      'audit_write_queue_depth',
      'audit_db_pool_connections',
      'audit_db_pool_pending_acquires',
      'process_cpu_user_seconds_total',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(text, name).to.include(`# TYPE ${name} `);
    }
  });

  it('counts requests, accepted and rejected events and batch sizes as requests flow', async () => {
    const before = await scrape();
    const headers = await authHeaders();
    const post = (body: unknown, extra: Record<string, string> = headers) =>
      postJson(`${running.url}/audits`, body, extra);
    expect((await post(sampleEvent())).status).to.equal(201);
    expect((await post(sampleEvent({ action: 'delete' }))).status).to.equal(201);
    expect((await post(sampleEvent({ timestamp: 'yesterday' }))).status).to.equal(400);
    expect((await post(sampleEvent({ imsOrgId: 'ORG-B@AdobeOrg' }))).status).to.equal(403);
    expect((await post(sampleEvent(), {})).status).to.equal(401);
    expect((await fetch(`${running.url}/nope`)).status).to.equal(404);
    expect((await fetch(`${running.url}/health/live`)).status).to.equal(200);
    const after = await scrape();

    const delta = (name: string, labels?: Record<string, string>) =>
      (after.get(key(name, labels)) ?? 0) - (before.get(key(name, labels)) ?? 0);
    const requests = (operationId: string, status: string) =>
      delta('audit_http_requests_total', { operationId, status });
    expect(requests('createAuditEvent', '201')).to.equal(2);
    expect(requests('createAuditEvent', '400')).to.equal(1);
    expect(requests('createAuditEvent', '403')).to.equal(1);
    expect(requests('createAuditEvent', '401')).to.equal(1);
    expect(requests('none', '404')).to.equal(1);
    expect(requests('getLiveness', '200')).to.equal(1);
    expect(requests('getMetrics', '200'), 'the first scrape, counted once answered').to.equal(1);
    expect(delta('audit_http_request_duration_seconds_count', { operationId: 'createAuditEvent' })).to.equal(5);
    expect(delta('audit_http_request_duration_seconds_sum', { operationId: 'createAuditEvent' })).to.be.greaterThan(0);

    expect(delta('audit_events_accepted_total')).to.equal(2);
    expect(delta('audit_event_batch_size_count')).to.equal(2);
    expect(delta('audit_event_batch_size_bucket', { le: '1' })).to.equal(2);
    expect(delta('audit_events_rejected_total', { reason: 'bad_request' })).to.equal(1);
    expect(delta('audit_events_rejected_total', { reason: 'forbidden' })).to.equal(1);
    expect(delta('audit_events_rejected_total', { reason: 'unauthorized' })).to.equal(1);
    expect(delta('audit_events_rejected_total', { reason: 'not_found' }), 'a 404 posts no event').to.equal(0);
  });

  it('counts a batch as one write of its size, and an idempotent replay as nothing new', async () => {
    const before = await scrape();
    const headers = { ...(await authHeaders()), 'Idempotency-Key': `metrics-${Date.now()}` };
    const batch = [sampleEvent(), sampleEvent({ action: 'create' }), sampleEvent({ action: 'delete' })];
    expect((await postJson(`${running.url}/audits/batch`, batch, headers)).status).to.equal(201);
    const replay = await postJson(`${running.url}/audits/batch`, batch, headers);
    expect(replay.headers.get('idempotent-replayed')).to.equal('true');
    const after = await scrape();
    const delta = (name: string, labels?: Record<string, string>) =>
      (after.get(key(name, labels)) ?? 0) - (before.get(key(name, labels)) ?? 0);
    expect(delta('audit_http_requests_total', { operationId: 'createAuditEvents', status: '201' })).to.equal(2);
    expect(delta('audit_events_accepted_total')).to.equal(3);
    expect(delta('audit_event_batch_size_count')).to.equal(1);
    expect(delta('audit_event_batch_size_sum')).to.equal(3);
    expect(delta('audit_event_batch_size_bucket', { le: '2' })).to.equal(0);
    expect(delta('audit_event_batch_size_bucket', { le: '5' })).to.equal(1);
  });

  it('shows events waiting for their commit in the write-queue gauge', async () => {
    const store = running.service.store;
    const commit = store.commit.bind(store);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const committing = new Promise<void>((resolve) => (started = resolve));
    store.commit = async (requests) => {
      started();
      await held;
      return commit(requests);
    };
    try {
      const posted = postJson(`${running.url}/audits/batch`, [sampleEvent(), sampleEvent()], await authHeaders());
      await committing;
      expect((await scrape()).get(key('audit_write_queue_depth'))).to.equal(2);
      release();
      expect((await posted).status).to.equal(201);
      expect((await scrape()).get(key('audit_write_queue_depth'))).to.equal(0);
    } finally {
      release();
      delete (store as Partial<typeof store>).commit; // back to the prototype's method
    }
  });

  it('reads the write queue and the database pool at scrape time', async () => {
    const samples = await scrape();
    expect(samples.get(key('audit_write_queue_depth'))).to.equal(0);
    // Idle between requests: the connection the earlier requests used is back in the pool.
    expect(samples.get(key('audit_db_pool_connections', { state: 'used' }))).to.equal(0);
    expect(samples.get(key('audit_db_pool_connections', { state: 'free' }))).to.be.at.least(1);
    expect(samples.get(key('audit_db_pool_pending_acquires'))).to.equal(0);
  });

  it('keeps a registry per service, so two services in one process count separately', async () => {
    const other = await startService(database().url);
    try {
      const before = (await scrape()).get(key('audit_events_accepted_total'));
      const res = await postJson(`${other.url}/audits`, sampleEvent(), await authHeaders());
      expect(res.status).to.equal(201);
      const otherSamples = parseExposition(await (await fetch(`${other.url}/metrics`)).text());
      expect(otherSamples.get(key('audit_events_accepted_total'))).to.equal(1);
      expect((await scrape()).get(key('audit_events_accepted_total'))).to.equal(before);
    } finally {
      await other.close();
    }
  });
});
