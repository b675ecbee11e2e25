import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { CloudEvent, HTTP } from 'cloudevents';
import { Webhook } from 'standardwebhooks';
import type { AuditEvent } from '../src/domain/api';
import { retryDelayMs, webhookUrlProblem } from '../src/domain/webhooks';
import { createTestDatabase, describeEachDatabase } from './helpers/databases';
import { appendEvents, type StoredAuditEvent } from './helpers/reads';
import { Receiver, waitFor } from './helpers/receiver';
import { postJson, sampleEvent, startService, type RunningService } from './helpers/service';
import { authHeaders, ORG } from './helpers/tokens';

const OTHER_ORG = 'ORG-B@AdobeOrg';
const events = (imsOrgId: string, count: number): AuditEvent[] =>
  Array.from({ length: count }, (_, i) => sampleEvent({ imsOrgId, resource: { resourceId: `r/${i}` } }) as AuditEvent);

interface Created {
  id: string;
  secret: string;
  status: string;
  lastDeliveredSeq: number;
  lagEvents: number;
  lastError: string | null;
  nextAttemptAt: string;
}

describe('webhook rules', () => {
  it('allows http and https to listed hosts only', () => {
    expect(webhookUrlProblem('https://siem.example.com/x', ['siem.example.com'], false)).to.equal(undefined);
    expect(webhookUrlProblem('https://a.siem.example.com/x', ['*.siem.example.com'], false)).to.equal(undefined);
    expect(webhookUrlProblem('https://evil.com/x', ['*.siem.example.com'], false)).to.include(
      'not in WEBHOOK_ALLOWED_HOSTS',
    );
    expect(webhookUrlProblem('http://127.0.0.1:9/x', [], false)).to.include('not in WEBHOOK_ALLOWED_HOSTS');
    expect(webhookUrlProblem('http://127.0.0.1:9/x', [], true)).to.equal(undefined);
    expect(webhookUrlProblem('http://[::1]:9/x', [], true)).to.equal(undefined);
    expect(webhookUrlProblem('file:///etc/passwd', ['*'], true)).to.include('http or https');
    expect(webhookUrlProblem('gopher://siem.example.com/', ['siem.example.com'], false)).to.include('http or https');
    expect(webhookUrlProblem('https://u:p@siem.example.com/', ['siem.example.com'], false)).to.include(
      'user information',
    );
    expect(webhookUrlProblem('not a url', ['siem.example.com'], false)).to.include('absolute URL');
  });

  it('backs off exponentially with jitter, honouring a longer Retry-After', () => {
    const range = { minMs: 1000, maxMs: 60_000 };
    expect(retryDelayMs(1, range, undefined, () => 0)).to.equal(500);
    expect(retryDelayMs(1, range, undefined, () => 1)).to.equal(1000);
    expect(retryDelayMs(4, range, undefined, () => 1)).to.equal(8000);
    expect(retryDelayMs(30, range, undefined, () => 1)).to.equal(60_000);
    expect(retryDelayMs(1, range, 20_000, () => 1)).to.equal(20_000);
    expect(retryDelayMs(1, range, 10 * 3600_000, () => 1)).to.equal(3600_000);
  });
});

describeEachDatabase('webhook subscriptions', (database) => {
  let running: RunningService;
  let receiver: Receiver;
  let admin: Record<string, string>;
  const api = (path: string, init: RequestInit = {}, headers = admin) =>
    fetch(`${running.url}${path}`, { ...init, headers: { 'content-type': 'application/json', ...headers } });
  const create = (body: Record<string, unknown>, headers = admin) =>
    api('/audits/subscriptions', { method: 'POST', body: JSON.stringify(body) }, headers);

  before(async () => {
    receiver = await new Receiver().start();
    running = await startService(database().url, {
      WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
      WEBHOOK_POLL_MS: '100',
      WEBHOOK_BACKOFF_MIN_MS: '100',
      WEBHOOK_BACKOFF_MAX_MS: '400',
      WEBHOOK_TIMEOUT_MS: '1000',
      WEBHOOK_LEASE_MS: '3000',
    });
    admin = await authHeaders({ orgs: [ORG], scope: 'audit.admin audit.write' });
    await appendEvents(running.service.store, events(ORG, 5));
  });
  after(async () => {
    await running?.close();
    await receiver?.stop();
  });

  it('creates a subscription (201, the secret once), delivers signed batches in seq order, and shows the status', async () => {
    const res = await create({ imsOrgId: ORG, url: `${receiver.url}/a`, format: 'cloudevents' });
    expect(res.status).to.equal(201);
    const created = (await res.json()) as Created;
    expect(created.secret).to.match(/^whsec_[A-Za-z0-9+/]{32}$/);
    await waitFor(() => receiver.deliveries.some((d) => d.path === '/a'), 5000, 'the first delivery');
    const posted = await postJson(`${running.url}/audits/batch`, events(ORG, 3), admin);
    expect(posted.status).to.equal(201);
    const mine = () => receiver.deliveries.filter((d) => d.path === '/a');
    const seqs = () => mine().flatMap((d) => (JSON.parse(d.body) as { seq: number }[]).map((event) => event.seq));
    await waitFor(() => seqs().length >= 8, 5000, 'all 8 events');
    expect(seqs()).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
    const webhook = new Webhook(created.secret);
    for (const delivery of mine()) {
      expect(delivery.headers['content-type']).to.equal('application/cloudevents-batch+json');
      webhook.verify(delivery.body, delivery.headers as Record<string, string>);
      const batch = HTTP.toEvent({ headers: delivery.headers, body: delivery.body }) as CloudEvent<StoredAuditEvent>[];
      const first = batch[0].seq as number;
      expect(delivery.headers['webhook-id']).to.equal(`${created.id}:${first}-${batch.at(-1)!.seq as number}`);
    }
    const status = (await (await api(`/audits/subscriptions/${created.id}`)).json()) as Created & { secret?: string };
    expect(status).to.include({ id: created.id, status: 'active', lastDeliveredSeq: 8, lagEvents: 0, lastError: null });
    expect(status.secret).to.equal(undefined);
    const list = (await (await api(`/audits/subscriptions?imsOrgId=${encodeURIComponent(ORG)}`)).json()) as {
      items: { id: string; secret?: string }[];
    };
    expect(list.items.map((s) => s.id)).to.include(created.id);
    expect(list.items.every((s) => s.secret === undefined)).to.equal(true);
    expect((await api(`/audits/subscriptions/${created.id}`, { method: 'DELETE' })).status).to.equal(200);
    expect((await api(`/audits/subscriptions/${created.id}`)).status).to.equal(404);
  });

  it('fromSeq starts there; a failing receiver is retried with the same batch and webhook-id, never skipped', async () => {
    let failures = 3;
    receiver.answer = (d) =>
      d.path === '/b' && failures-- > 0 ? { status: 503, headers: { 'retry-after': '0' } } : undefined;
    const res = await create({ imsOrgId: ORG, url: `${receiver.url}/b`, format: 'json', fromSeq: 4 });
    const { id } = (await res.json()) as Created;
    const mine = () => receiver.deliveries.filter((d) => d.path === '/b');
    await waitFor(() => mine().some((d) => d.status === 200), 10_000, 'a success after the failures');
    const attempts = mine();
    expect(attempts.map((d) => d.status)).to.deep.equal([503, 503, 503, 200]);
    expect(new Set(attempts.map((d) => d.headers['webhook-id']))).to.deep.equal(new Set([`${id}:4-8`]));
    expect(new Set(attempts.map((d) => d.body)).size).to.equal(1);
    expect((JSON.parse(attempts[0].body) as StoredAuditEvent[]).map((e) => e.seq)).to.deep.equal([4, 5, 6, 7, 8]);
    receiver.answer = () => undefined;
  });

  it('records the error and when it retries, and resume retries at once', async () => {
    receiver.answer = (d) => (d.path === '/c' ? { status: 500 } : undefined);
    const { id } = (await (
      await create({ imsOrgId: ORG, url: `${receiver.url}/c`, format: 'ocsf' })
    ).json()) as Created;
    await waitFor(() => receiver.deliveries.some((d) => d.path === '/c'), 5000, 'an attempt');
    await waitFor(
      async () => ((await (await api(`/audits/subscriptions/${id}`)).json()) as Created).lastError === 'HTTP 500',
      5000,
      'the error recorded',
    );
    const status = (await (await api(`/audits/subscriptions/${id}`)).json()) as Created;
    expect(status).to.include({ lastDeliveredSeq: 0, lagEvents: 8, status: 'active' });
    receiver.answer = () => undefined;
    const resumed = await api(`/audits/subscriptions/${id}/resume`, { method: 'POST' });
    expect(resumed.status).to.equal(200);
    await waitFor(
      async () => ((await (await api(`/audits/subscriptions/${id}`)).json()) as Created).lastDeliveredSeq === 8,
      5000,
      'delivery after resume',
    );
    const delivered = receiver.deliveries.filter((d) => d.path === '/c' && d.status === 200);
    expect((JSON.parse(delivered[0].body) as { class_uid: number }[])[0].class_uid).to.equal(6003);
  });

  it('does not follow a redirect: the other host gets nothing, and the error names it', async () => {
    const other = await new Receiver().start();
    try {
      receiver.answer = (d) =>
        d.path === '/d' ? { status: 302, headers: { location: `${other.url}/stolen` } } : undefined;
      const { id } = (await (
        await create({ imsOrgId: ORG, url: `${receiver.url}/d`, format: 'json' })
      ).json()) as Created;
      await waitFor(
        async () => ((await (await api(`/audits/subscriptions/${id}`)).json()) as Created).lastError !== null,
        5000,
        'the redirect recorded',
      );
      const status = (await (await api(`/audits/subscriptions/${id}`)).json()) as Created;
      expect(status.lastError).to.equal('HTTP 302: redirects are not followed');
      expect(status.lastDeliveredSeq).to.equal(0);
      expect(other.deliveries).to.deep.equal([]);
      expect((await api(`/audits/subscriptions/${id}`, { method: 'DELETE' })).status).to.equal(200);
    } finally {
      receiver.answer = () => undefined;
      await other.stop();
    }
  });

  it('reads only the start of an answer: a 2xx whose body never ends still counts, within the timeout', async () => {
    const endless = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = 'x'.repeat(1024);
      const timer = setInterval(() => response.write(chunk), 5);
      response.on('close', () => clearInterval(timer));
    });
    await new Promise<void>((resolve) => endless.listen(0, '127.0.0.1', resolve));
    try {
      const port = (endless.address() as AddressInfo).port;
      const created = await create({ imsOrgId: ORG, url: `http://127.0.0.1:${port}/endless`, format: 'json' });
      const { id } = (await created.json()) as Created;
      // WEBHOOK_TIMEOUT_MS is 1000: a reader of the whole body would time out and never advance.
      await waitFor(
        async () => {
          const status = (await (await api(`/audits/subscriptions/${id}`)).json()) as Created;
          return status.lastDeliveredSeq > 0 && status.lagEvents === 0;
        },
        3000,
        'the delivery to count',
      );
      expect(((await (await api(`/audits/subscriptions/${id}`)).json()) as Created).lastError).to.equal(null);
      await api(`/audits/subscriptions/${id}`, { method: 'DELETE' });
    } finally {
      endless.closeAllConnections();
      endless.close();
    }
  });

  it('turns failing after WEBHOOK_FAILING_AFTER_MS without a success, keeps retrying, and turns active at the next success', async () => {
    const own = await startService(database().url, {
      WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
      WEBHOOK_POLL_MS: '50',
      WEBHOOK_BACKOFF_MIN_MS: '20',
      WEBHOOK_BACKOFF_MAX_MS: '100',
      WEBHOOK_FAILING_AFTER_MS: '300',
      WEBHOOK_TIMEOUT_MS: '1000',
      WEBHOOK_LEASE_MS: '3000',
    });
    let failing = true;
    receiver.answer = (d) => (d.path === '/f' && failing ? { status: 503 } : undefined);
    try {
      const statusOf = async (id: string) =>
        (await (await fetch(`${own.url}/audits/subscriptions/${id}`, { headers: admin })).json()) as Created;
      const created = await postJson(
        `${own.url}/audits/subscriptions`,
        { imsOrgId: ORG, url: `${receiver.url}/f`, format: 'json' },
        admin,
      );
      const { id } = (await created.json()) as Created;
      await waitFor(async () => (await statusOf(id)).status === 'failing', 5000, 'status failing');
      expect(await statusOf(id)).to.include({ lastDeliveredSeq: 0, lastError: 'HTTP 503' });
      const attempts = receiver.deliveries.filter((d) => d.path === '/f').length;
      // Still retrying, at the longest interval (100 ms here).
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(receiver.deliveries.filter((d) => d.path === '/f').length).to.be.above(attempts);
      failing = false;
      await waitFor(async () => (await statusOf(id)).status === 'active', 5000, 'status active again');
      expect((await statusOf(id)).lastError).to.equal(null);
      expect((await statusOf(id)).lagEvents).to.equal(0);
    } finally {
      receiver.answer = () => undefined;
      await own.close();
    }
  });

  it('shutdown cuts off a delivery waiting for a slow receiver, and does not count it as delivered', async () => {
    // A database of its own: the suite's service must not be the one delivering.
    const ownDatabase = await createTestDatabase(database().kind);
    const own = await startService(ownDatabase.url, {
      WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
      WEBHOOK_POLL_MS: '50',
      WEBHOOK_TIMEOUT_MS: '20000',
      WEBHOOK_LEASE_MS: '30000',
    });
    const hanging = createServer(() => {}); // never answers
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    let received = 0;
    hanging.on('request', () => (received += 1));
    try {
      const port = (hanging.address() as AddressInfo).port;
      const res = await postJson(
        `${own.url}/audits/subscriptions`,
        { imsOrgId: ORG, url: `http://127.0.0.1:${port}/hang`, format: 'json' },
        admin,
      );
      expect(res.status).to.equal(201);
      await own.service.writer.write({ events: events(ORG, 2) });
      await waitFor(() => received > 0, 5000, 'the delivery to start');
      const started = Date.now();
      await own.close();
      expect(Date.now() - started).to.be.below(2000);
    } finally {
      hanging.closeAllConnections();
      hanging.close();
      await ownDatabase.dispose();
    }
  });

  describe('refused with 400, and nothing is sent', () => {
    // Each URL but the first would reach the receiver if it were allowed.
    const refused = (): [string, string, string][] => [
      ['a host outside the allow list', 'http://10.0.0.1/hook', 'url host 10.0.0.1 is not in WEBHOOK_ALLOWED_HOSTS'],
      [
        'a loopback name outside the allow list',
        `http://localhost:${receiver?.port ?? 0}/hook`,
        'url host localhost is not in',
      ],
      ['a non-http scheme', `ftp://127.0.0.1:${receiver?.port ?? 0}/hook`, 'url must use http or https, not ftp'],
      ['a file URL', 'file:///etc/passwd', 'url must use http or https, not file'],
      ['user information', `http://user:pw@127.0.0.1:${receiver?.port ?? 0}/hook`, 'must not contain user information'],
      ['not a URL', 'hook', 'not an absolute URL'],
    ];
    for (const [i, name] of refused()
      .map(([name]) => name)
      .entries()) {
      it(name, async () => {
        const [, url, message] = refused()[i];
        const res = await create({ imsOrgId: ORG, url, format: 'json' });
        expect(res.status).to.equal(400);
        const body = (await res.json()) as { reason: string; message: string };
        expect(body.reason).to.equal('bad_request');
        expect(body.message).to.include(message);
        const list = (await (await api(`/audits/subscriptions?imsOrgId=${encodeURIComponent(ORG)}`)).json()) as {
          items: { url: string }[];
        };
        expect(list.items.map((s) => s.url)).to.not.include(url);
        // Several delivery polls later, still nothing reached the receiver's /hook.
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(receiver.deliveries.filter((d) => d.path === '/hook')).to.deep.equal([]);
      });
    }
    it('a bad format', async () => {
      const res = await create({ imsOrgId: ORG, url: receiver.url, format: 'xml' });
      expect(res.status).to.equal(400);
      expect(((await res.json()) as { message: string }).message).to.include('body.format');
    });
    it('an unknown field', async () => {
      const res = await create({ imsOrgId: ORG, url: receiver.url, format: 'json', secret: 'mine' });
      expect(res.status).to.equal(400);
    });
  });

  describe('tenant walls and scope', () => {
    it('another tenant cannot create one (403), nor see, delete or resume one (404)', async () => {
      const { id } = (await (
        await create({ imsOrgId: ORG, url: `${receiver.url}/e`, format: 'json' })
      ).json()) as Created;
      const other = await authHeaders({ orgs: [OTHER_ORG], scope: 'audit.admin' });
      expect((await create({ imsOrgId: ORG, url: receiver.url, format: 'json' }, other)).status).to.equal(403);
      expect((await api(`/audits/subscriptions?imsOrgId=${encodeURIComponent(ORG)}`, {}, other)).status).to.equal(403);
      for (const [method, path] of [
        ['GET', `/audits/subscriptions/${id}`],
        ['DELETE', `/audits/subscriptions/${id}`],
        ['POST', `/audits/subscriptions/${id}/resume`],
      ]) {
        const res = await api(path, { method }, other);
        expect(res.status, `${method} ${path}`).to.equal(404);
        expect(((await res.json()) as { message: string }).message).to.equal(`subscription "${id}" not found`);
      }
      expect((await api(`/audits/subscriptions/${id}`)).status).to.equal(200);
    });

    it('an unknown subscription is 404', async () => {
      for (const id of ['01933b1e-7c4a-7d2e-9b1a-2f4e5d6c7b8a', 'nothing']) {
        expect((await api(`/audits/subscriptions/${id}`)).status).to.equal(404);
        expect((await api(`/audits/subscriptions/${id}/resume`, { method: 'POST' })).status).to.equal(404);
      }
    });

    it('needs scope audit.admin', async () => {
      const reader = await authHeaders({ orgs: [ORG], scope: 'audit.read audit.write' });
      expect((await create({ imsOrgId: ORG, url: receiver.url, format: 'json' }, reader)).status).to.equal(403);
    });
  });
});
