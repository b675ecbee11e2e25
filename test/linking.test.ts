import { createHash } from 'node:crypto';
import { expect } from 'chai';
import type { AuditEvent } from '../src/domain/api';
import { eventLeafHash } from '../src/domain/leaf';
import {
  claimedDigests,
  EMPTY_HEAD,
  idempotencyDigest,
  linkGroup,
  type LogHead,
  planGroup,
  sealPersonalData,
  type WriteRequest,
} from '../src/domain/linking';
import {
  appendLeaf,
  EMPTY_FRONTIER,
  type Frontier,
  frontierRoot,
  leafHash,
  rootFromLeaves,
} from '../src/domain/merkle';
import { sampleEvent } from './helpers/service';

// The rules of a group commit without a database: plain values in, plain values out.
const NOW = Date.UTC(2026, 11, 1, 10, 0, 0, 123);
const TTL = 60_000;
const event = (overrides: Record<string, unknown> = {}) => sampleEvent(overrides) as AuditEvent;
const claim = (key: string, requestHash = `hash-of-${key}`) => ({ clientId: 'client', key, requestHash });
const genesis = (...orgs: string[]) => new Map<string, LogHead>(orgs.map((org) => [org, EMPTY_HEAD]));
const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
/** A head of `size` made-up leaves. */
function headOf(size: number): { head: LogHead; leaves: Uint8Array[] } {
  const leaves = Array.from({ length: size }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
  const frontier = leaves.reduce<Frontier>((f, leaf) => appendLeaf(f, leaf), EMPTY_FRONTIER);
  return { head: { size, rootHash: b64(frontierRoot(frontier)), frontier }, leaves };
}

function link(requests: WriteRequest[], heads: Map<string, LogHead>, live: Parameters<typeof planGroup>[1] = []) {
  const plan = planGroup(requests, live);
  return { plan, ...linkGroup(requests, plan, heads, NOW, TTL) };
}

describe('Linking a group of writes (src/domain/linking.ts)', () => {
  it("extends each tenant's tree in input order, across requests, with seq, salts, leaf hash, id and receivedAt", () => {
    const a = headOf(255);
    const heads = new Map<string, LogHead>([
      ['A', a.head],
      ['B', EMPTY_HEAD],
    ]);
    const requests = [
      { events: [event({ imsOrgId: 'A', action: 'a1' }), event({ imsOrgId: 'B', action: 'b1' })] },
      { events: [event({ imsOrgId: 'A', action: 'a2' })] },
    ];
    const linked = link(requests, heads);
    expect(linked.plan.orgs).to.deep.equal(['A', 'B']);
    const stored = linked.events.map((e) => e.event);
    expect(stored.map((e) => [e.imsOrgId, e.seq, e.action])).to.deep.equal([
      ['A', 256, 'a1'],
      ['B', 1, 'b1'],
      ['A', 257, 'a2'],
    ]);
    const [a1, b1, a2] = stored;
    for (const e of stored) {
      const { leafHash: leaf, salts, ...hashed } = e;
      expect(eventLeafHash(hashed, salts)).to.equal(leaf);
    }
    const leavesA = [...a.leaves, ...[a1, a2].map((e) => Buffer.from(e.leafHash, 'base64'))];
    expect(linked.heads.get('A')).to.include({ size: 257, rootHash: b64(rootFromLeaves(leavesA)) });
    expect(linked.heads.get('B')).to.include({
      size: 1,
      rootHash: b64(rootFromLeaves([Buffer.from(b1.leafHash, 'base64')])),
    });
    // Leaf 255 (a1) completes subtrees up to the first 256 leaves: those at tile levels are stored.
    expect(linked.nodes.map((n) => [n.imsOrgId, n.level, n.index, b64(n.hash)])).to.deep.equal([
      ['A', 4, 15, b64(rootFromLeaves(leavesA.slice(240, 256)))],
      ['A', 8, 0, b64(rootFromLeaves(leavesA.slice(0, 256)))],
    ]);
    expect(heads.get('A'), 'the given heads are not modified').to.equal(a.head);
    expect(a.head.size).to.equal(255);
    expect(stored.every((e) => e.receivedAt === '2026-12-01T10:00:00.123Z')).to.equal(true);
    expect(linked.events.every((e) => e.receivedAt === NOW)).to.equal(true);
    expect(new Set(stored.map((e) => e.id)).size).to.equal(3);
    expect(stored[0].id.slice(0, 8)).to.equal(NOW.toString(16).padStart(12, '0').slice(0, 8));
    expect(linked.outcomes).to.deep.equal([
      { kind: 'stored', eventIds: [a1.id, b1.id] },
      { kind: 'stored', eventIds: [a2.id] },
    ]);
  });

  it('normalises each event: the timestamp in canonical UTC with milliseconds, no extra fields, tags copied', () => {
    const tags = { region: 'eu' };
    const sent = { ...event({ timestamp: '2017-10-31T02:02:04+02:00', tags }), extra: 'dropped' } as AuditEvent;
    const [{ event: stored, occurredAt }] = link([{ events: [sent] }], genesis('ORG-A@AdobeOrg')).events;
    expect(stored.timestamp).to.equal('2017-10-31T00:02:04.000Z');
    expect(occurredAt).to.equal(Date.UTC(2017, 9, 31, 0, 2, 4));
    expect(stored).not.to.have.property('extra');
    expect(stored.tags).to.deep.equal(tags);
    expect(stored.tags).not.to.equal(tags);
    const [untagged] = link([{ events: [event({ tags: undefined })] }], genesis('ORG-A@AdobeOrg')).events;
    expect(untagged.event).not.to.have.property('tags');
  });

  it('records a key for each storing request that claimed one, expiring after the TTL', () => {
    const linked = link(
      [{ events: [event()], idempotency: claim('k1') }, { events: [event()] }],
      genesis('ORG-A@AdobeOrg'),
    );
    expect(linked.keys).to.deep.equal([
      {
        digest: idempotencyDigest('client', 'k1'),
        clientId: 'client',
        key: 'k1',
        requestHash: 'hash-of-k1',
        eventIds: [linked.events[0].event.id],
        expiresAt: NOW + TTL,
      },
    ]);
  });

  it('replays a live key with the same request hash, refuses one with another, and stores nothing for either', () => {
    const live = [
      { digest: idempotencyDigest('client', 'same'), requestHash: 'hash-of-same', eventIds: ['e1', 'e2'] },
      { digest: idempotencyDigest('client', 'other'), requestHash: 'a different body', eventIds: ['e3'] },
    ];
    const requests = [
      { events: [event()], idempotency: claim('same') },
      { events: [event()], idempotency: claim('other') },
    ];
    const linked = link(requests, new Map(), live);
    expect(linked.plan).to.deep.include({ storing: [], orgs: [] });
    expect(linked.events).to.deep.equal([]);
    expect(linked.keys).to.deep.equal([]);
    expect(linked.outcomes).to.deep.equal([{ kind: 'replayed', eventIds: ['e1', 'e2'] }, { kind: 'mismatch' }]);
  });

  it('stores a key used twice within one group once: the later request replays it, or is refused if its body differs', () => {
    const requests = [
      { events: [event()], idempotency: claim('dup') },
      { events: [event()], idempotency: claim('dup') },
      { events: [event()], idempotency: claim('dup', 'another body') },
    ];
    const linked = link(requests, genesis('ORG-A@AdobeOrg'));
    expect(linked.events).to.have.length(1);
    expect(linked.keys).to.have.length(1);
    const ids = [linked.events[0].event.id];
    expect(linked.outcomes).to.deep.equal([
      { kind: 'stored', eventIds: ids },
      { kind: 'replayed', eventIds: ids },
      { kind: 'mismatch' },
    ]);
  });

  it("keys are the client's: another client's same key is another key", () => {
    const requests = [
      { events: [event()], idempotency: claim('k') },
      { events: [event()], idempotency: { ...claim('k'), clientId: 'someone-else' } },
    ];
    expect(claimedDigests(requests)).to.deep.equal([
      idempotencyDigest('client', 'k'),
      idempotencyDigest('someone-else', 'k'),
    ]);
    expect(link(requests, genesis('ORG-A@AdobeOrg')).outcomes.map((o) => o.kind)).to.deep.equal(['stored', 'stored']);
  });

  it('digests a key to 64 hex characters whatever the client id length, keeping the pair unambiguous', () => {
    expect(idempotencyDigest('x'.repeat(3000), 'k')).to.match(/^[0-9a-f]{64}$/);
    expect(idempotencyDigest('a:b', 'c')).not.to.equal(idempotencyDigest('a', 'b:c'));
    // SHA-256 of the JSON text ["client","key"]: the migration that keys existing rows computes the same.
    expect(idempotencyDigest('client', 'key')).to.equal(createHash('sha256').update('["client","key"]').digest('hex'));
  });

  it('refuses a timestamp that was never validated instead of storing it', () => {
    expect(() =>
      link([{ events: [event({ timestamp: '2017-02-30T00:00:00Z' })] }], genesis('ORG-A@AdobeOrg')),
    ).to.throw(/unvalidated timestamp/);
  });
});

describe('Personal data sealed when a request arrives (sealPersonalData)', () => {
  it('gives the same leaves as sealing at commit time would, with the salts it made', () => {
    const events = [event({ imsOrgId: 'S', tags: { region: 'eu', __proto__: 'x' } }), event({ imsOrgId: 'S' })];
    const personal = sealPersonalData(events);
    const linked = link([{ events, personal }], genesis('S')).events.map((e) => e.event);
    linked.forEach((stored, i) => {
      expect(stored.salts).to.equal(personal[i].salts);
      const { leafHash: leaf, salts, ...hashed } = stored;
      expect(eventLeafHash(hashed, salts)).to.equal(leaf);
    });
  });
});
