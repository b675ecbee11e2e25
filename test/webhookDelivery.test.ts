import { expect } from 'chai';
import { Webhook } from 'standardwebhooks';
import type { AuditEvent } from '../src/domain/api';
import { killServices, spawnService } from './helpers/child';
import { describeEachDatabase, describePostgres } from './helpers/databases';
import { Receiver, waitFor, type Delivery } from './helpers/receiver';
import { postJson, sampleEvent, startService, type RunningService } from './helpers/service';
import { authHeaders } from './helpers/tokens';

const TENANTS = ['T1@AdobeOrg', 'T2@AdobeOrg', 'T3@AdobeOrg'];
const FORMATS = ['json', 'cloudevents', 'ocsf'] as const;

/** The seqs a delivery body holds, whichever format it is in. */
function seqsOf(body: string): number[] {
  return (JSON.parse(body) as { seq?: number; metadata?: { sequence: number } }[]).map(
    (event) => event.seq ?? event.metadata!.sequence,
  );
}

interface Subscribed {
  id: string;
  secret: string;
  path: string;
  count: number;
}

/**
 * What every receiver of a gap-free feed must be able to check: every delivery's signature
 * verifies; the accepted deliveries, deduplicated by webhook-id, hold every seq 1..count once,
 * in order; a seq seen twice came in batches with the same webhook-id and the same body.
 */
function checkFeed(deliveries: Delivery[], subscription: Subscribed): void {
  const mine = deliveries.filter((d) => d.path === subscription.path);
  const webhook = new Webhook(subscription.secret);
  for (const delivery of mine) webhook.verify(delivery.body, delivery.headers as Record<string, string>);
  const bodies = new Map<string, string>();
  const ordered: number[] = [];
  for (const delivery of mine.filter((d) => d.status === 200)) {
    const id = delivery.headers['webhook-id'] as string;
    const seen = bodies.get(id);
    if (seen !== undefined) {
      expect(delivery.body, `a repeat of ${id}`).to.equal(seen);
      continue;
    }
    bodies.set(id, delivery.body);
    const seqs = seqsOf(delivery.body);
    expect(id).to.equal(`${subscription.id}:${seqs[0]}-${seqs.at(-1)}`);
    ordered.push(...seqs);
  }
  expect(ordered.length, `${subscription.path}: events`).to.equal(subscription.count);
  expect(ordered).to.deep.equal(Array.from({ length: subscription.count }, (_, i) => i + 1));
}

const eventsFor = (imsOrgId: string, count: number): AuditEvent[] =>
  Array.from({ length: count }, (_, i) => sampleEvent({ imsOrgId, resource: { resourceId: `r/${i}` } }) as AuditEvent);

async function ingest(url: string, headers: Record<string, string>, imsOrgId: string, count: number, batch = 100) {
  for (let sent = 0; sent < count; sent += batch) {
    const size = Math.min(batch, count - sent);
    for (;;) {
      const res = await postJson(`${url}/audits/batch`, eventsFor(imsOrgId, size), headers);
      if (res.status === 201) break;
      expect(res.status, await res.text()).to.equal(503);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function subscribe(
  url: string,
  headers: Record<string, string>,
  imsOrgId: string,
  format: string,
  receiverUrl: string,
  path: string,
  count: number,
): Promise<Subscribed> {
  const res = await postJson(
    `${url}/audits/subscriptions`,
    { imsOrgId, url: `${receiverUrl}${path}`, format },
    headers,
  );
  expect(res.status, await res.clone().text()).to.equal(201);
  const { id, secret } = (await res.json()) as { id: string; secret: string };
  return { id, secret, path, count };
}

describeEachDatabase('webhook delivery to a receiver that fails, goes down and answers slowly', (database) => {
  let running: RunningService;
  let receiver: Receiver;
  after(async () => {
    await running?.close();
    await receiver?.stop();
  });

  it('delivers 5,001 events of 3 tenants: every seq once, in order, every signature valid', async function () {
    this.timeout(120_000);
    receiver = await new Receiver().start();
    // A fixed seed: the run is repeatable.
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    receiver.answer = () => {
      const roll = random();
      if (roll < 0.1) return { status: 500 };
      if (roll < 0.13) return { status: 429, headers: { 'retry-after': '1' } };
      if (roll < 0.16) return { status: 200, delayMs: 400 }; // past WEBHOOK_TIMEOUT_MS: retried, then a duplicate
      if (roll < 0.3) return { status: 200, delayMs: 60 };
      return undefined;
    };
    running = await startService(database().url, {
      WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
      WEBHOOK_POLL_MS: '50',
      WEBHOOK_BATCH_EVENTS: '25',
      WEBHOOK_BACKOFF_MIN_MS: '20',
      WEBHOOK_BACKOFF_MAX_MS: '500',
      WEBHOOK_TIMEOUT_MS: '250',
      WEBHOOK_LEASE_MS: '2000',
    });
    const headers = await authHeaders({ orgs: TENANTS, scope: 'audit.admin audit.write' });
    const count = 1667;
    const subscriptions = await Promise.all(
      TENANTS.map((tenant, i) =>
        subscribe(running.url, headers, tenant, FORMATS[i], receiver.url, `/t${i + 1}`, count),
      ),
    );
    const ingesting = Promise.all(TENANTS.map((tenant) => ingest(running.url, headers, tenant, count)));
    // Down for 3 s while events arrive.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const port = receiver.port;
    await receiver.stop();
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await receiver.start(port);
    await ingesting;
    const statusOf = async (id: string) =>
      (await (await fetch(`${running.url}/audits/subscriptions/${id}`, { headers })).json()) as {
        lastDeliveredSeq: number;
        lagEvents: number;
        status: string;
      };
    await waitFor(
      async () =>
        (await Promise.all(subscriptions.map((s) => statusOf(s.id)))).every((s) => s.lastDeliveredSeq === count),
      60_000,
      'every subscription to catch up',
    );
    for (const subscription of subscriptions) {
      checkFeed(receiver.deliveries, subscription);
      expect(await statusOf(subscription.id)).to.include({ lagEvents: 0, status: 'active' });
    }
    // The faults happened: refusals, and batches the sender gave up on (timeouts) that were then repeated.
    const failed = receiver.deliveries.filter((d) => d.status !== 200).length;
    expect(failed, 'deliveries the receiver failed').to.be.above(15);
    const accepted = receiver.deliveries.filter((d) => d.status === 200).map((d) => d.headers['webhook-id']);
    expect(accepted.length - new Set(accepted).size, 'repeated batches').to.be.above(0);
  });
});

describePostgres('webhook delivery when the delivering instance is SIGKILLed', (database) => {
  after(killServices);

  it('another instance takes over once the lease expires, and nothing is skipped', async function () {
    this.timeout(120_000);
    const receiver = await new Receiver().start();
    try {
      let started = 0;
      let current = 0;
      let most = 0;
      receiver.answer = () => {
        started += 1;
        most = Math.max(most, ++current);
        setTimeout(() => (current -= 1), 100);
        return { status: 200, delayMs: 100 };
      };
      const env = {
        WEBHOOK_ALLOWED_HOSTS: '127.0.0.1',
        WEBHOOK_POLL_MS: '50',
        WEBHOOK_BATCH_EVENTS: '50',
        WEBHOOK_TIMEOUT_MS: '1000',
        WEBHOOK_LEASE_MS: '1500',
        WEBHOOK_BACKOFF_MIN_MS: '20',
        WEBHOOK_BACKOFF_MAX_MS: '200',
      };
      const first = await spawnService(database().url, { env });
      const headers = await authHeaders({ orgs: TENANTS, scope: 'audit.admin audit.write' });
      const count = 1500;
      const subscription = await subscribe(first.url, headers, TENANTS[0], 'json', receiver.url, '/k', count);
      await ingest(first.url, headers, TENANTS[0], count, 500);
      // Killed while a delivery of its is in flight (the receiver holds each for 100 ms).
      await waitFor(
        () => receiver.deliveries.length >= 5 && started > receiver.deliveries.length,
        10_000,
        'a delivery in flight',
      );
      await first.kill('SIGKILL');
      const delivered = receiver.deliveries.length;
      const second = await spawnService(database().url, { env });
      const acceptedIds = () =>
        receiver.deliveries.filter((d) => d.status === 200).map((d) => d.headers['webhook-id'] as string);
      await waitFor(() => new Set(acceptedIds()).size >= count / 50, 60_000, 'the second instance to deliver the rest');
      expect(receiver.deliveries.length).to.be.above(delivered + 1);
      checkFeed(receiver.deliveries, subscription);
      // The batch in flight when the first died reached the receiver, but its cursor never
      // moved: the second instance sent it again, under the same webhook-id.
      expect(acceptedIds().length - new Set(acceptedIds()).size).to.equal(1);
      expect(most, 'deliveries of the subscription in flight at once').to.equal(1);
      for (const child of [first, second]) expect(child.output()).to.not.include(subscription.secret);
      await second.kill('SIGTERM');
    } finally {
      await receiver.stop();
    }
  });
});
