import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { parseDatabaseUrl } from '../src/config';
import type { StoredAuditEvent } from '../src/domain/api';
import { canonicalJson } from '../src/domain/canonicalJson';
import { eventLeafHash } from '../src/domain/leaf';
import { leafHash, rootFromLeaves, verifyConsistency, verifyInclusion } from '../src/domain/merkle';
import { AuditStore } from '../src/store/auditStore';
import { openDatabase } from '../src/store/db';
import { describeEachDatabase } from './helpers/databases';
import { sampleEvent } from './helpers/service';

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const bytes = (text: string) => new Uint8Array(Buffer.from(text, 'base64'));

/** The hashed form spelled out from the spec's LeafHash schema, independently of src/domain/leaf.ts. */
function specLeafHash(event: StoredAuditEvent): string {
  const commit = (salt: string, value: string) =>
    createHash('sha256').update(Buffer.from(salt, 'base64')).update(value, 'utf8').digest('base64');
  const { leafHash: _leaf, salts, ...hashed } = event;
  const form = {
    ...hashed,
    userIdentifier: commit(salts.userIdentifier!, event.userIdentifier!),
    ...(event.tags && {
      tags: Object.fromEntries(Object.entries(event.tags).map(([k, v]) => [k, commit(salts.tags![k], v!)])),
    }),
  };
  return createHash('sha256')
    .update(Buffer.from([0]))
    .update(canonicalJson(form), 'utf8')
    .digest('base64');
}

describeEachDatabase("Each tenant's log is a Merkle tree", (database) => {
  let store: AuditStore;
  const org = `tree-${Date.now()}@AdobeOrg`;
  const events: StoredAuditEvent[] = [];
  // Past two tiles (2 × 256 leaves), in uneven groups, interleaved with another tenant.
  const SIZE = 600;

  before(async function () {
    this.timeout(60_000);
    store = new AuditStore(openDatabase(parseDatabaseUrl(database().url)));
    await store.migrate();
    let seq = 0;
    for (const group of [1, 2, 3, 250, 1, 1, 100, 242]) {
      const batch = Array.from({ length: group }, () => {
        seq++;
        return sampleEvent({
          imsOrgId: org,
          action: `a${seq}`,
          tags: seq % 3 ? { region: `r${seq}`, k: 'v' } : undefined,
        });
      });
      await store.commit([{ events: batch }, { events: [sampleEvent({ imsOrgId: `${org}-other` })] }]);
    }
    expect(seq).to.equal(SIZE);
    for (let after = 0; after < SIZE; after += 200) events.push(...(await store.eventsAfterSeq(org, after, 200)));
  });

  after(async () => {
    await store?.close();
  });

  it("gives every event salts and a leaf hash that the spec's hashed form reproduces", () => {
    expect(events.map((e) => e.seq)).to.deep.equal(Array.from({ length: SIZE }, (_, i) => i + 1));
    for (const event of events) {
      expect(event.leafHash).to.equal(specLeafHash(event));
      const { leafHash: _l, salts, ...hashed } = event;
      expect(eventLeafHash(hashed, salts)).to.equal(event.leafHash);
      expect(Buffer.from(salts.userIdentifier!, 'base64')).to.have.length(16);
    }
    // Salts are random per field and per event.
    expect(new Set(events.map((e) => e.salts.userIdentifier)).size).to.equal(SIZE);
  });

  it('keeps a head whose root is the RFC 9162 tree hash of the leaves', async () => {
    const head = await store.log.head(org);
    expect(head.size).to.equal(SIZE);
    expect(head.rootHash).to.equal(b64(rootFromLeaves(events.map((e) => bytes(e.leafHash)))));
    expect((await store.log.verify(org)).verified).to.equal(true);
  });

  it('serves inclusion proofs that verify, for leaves and tree sizes across tile boundaries', async () => {
    const leaves = events.map((e) => bytes(e.leafHash));
    for (const size of [1, 2, 255, 256, 257, 511, 512, 513, SIZE]) {
      const root = rootFromLeaves(leaves.slice(0, size));
      expect(b64((await store.log.inclusionProof(org, 1, size)).root)).to.equal(b64(root));
      for (const seq of new Set([1, 2, Math.ceil(size / 2), size - 1, size].filter((s) => s >= 1 && s <= size))) {
        const { proof, root: served, treeSize } = await store.log.inclusionProof(org, seq, size);
        expect(treeSize).to.equal(size);
        expect(b64(served)).to.equal(b64(root));
        expect(verifyInclusion(seq - 1, size, leaves[seq - 1], proof, root), `seq ${seq} in ${size}`).to.equal(true);
        expect(verifyInclusion(seq - 1, size, leafHash(Buffer.from('another event')), proof, root)).to.equal(false);
      }
    }
  });

  it('serves consistency proofs that verify between any two sizes', async () => {
    const leaves = events.map((e) => bytes(e.leafHash));
    for (const [from, to] of [
      [1, 1],
      [1, 600],
      [255, 257],
      [256, 512],
      [300, 599],
      [513, 600],
    ]) {
      const { proof, root } = await store.log.consistencyProof(org, from, to);
      const rootFrom = rootFromLeaves(leaves.slice(0, from));
      expect(verifyConsistency(from, to, rootFrom, root, proof), `${from} → ${to}`).to.equal(true);
      expect(verifyConsistency(from, to, rootFromLeaves(leaves.slice(1, from + 1)), root, proof)).to.equal(false);
    }
  });

  it("refuses proofs past the log's size or outside the tree, naming why", async () => {
    await expectRefused(store.log.inclusionProof(org, 5, SIZE + 1), /treeSize 601 is past the log's current size, 600/);
    await expectRefused(store.log.inclusionProof(org, 50, 10), /event 50 is not in the tree of size 10/);
    await expectRefused(store.log.consistencyProof(org, 0, 5), /from \(0\) must be at least 1/);
    await expectRefused(store.log.consistencyProof(org, 6, 5), /at most to/);
    await expectRefused(store.log.consistencyProof(org, 6, SIZE + 1), /past the log's current size/);
  });

  it("verifies since a size, at the cost of what was added, and reports that size's root", async () => {
    const leaves = events.map((e) => bytes(e.leafHash));
    const since = await store.log.verify(org, { since: 513 });
    expect(since).to.include({ verified: true, count: SIZE - 513, since: 513, treeSize: SIZE });
    expect(since.sinceRootHash).to.equal(b64(rootFromLeaves(leaves.slice(0, 513))));
    expect(await store.log.verify(org, { since: SIZE })).to.include({ verified: true, count: 0 });
    const wrongRoot = await store.log.verify(org, { since: 256, sinceRoot: b64(rootFromLeaves(leaves.slice(0, 255))) });
    expect(wrongRoot).to.include({ verified: false, brokenAt: 256 });
  });
});

async function expectRefused(promise: Promise<unknown>, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e as Error & { reason?: string },
  );
  expect(error, 'refused').to.be.instanceOf(Error);
  expect(error!.reason).to.equal('bad_request');
  expect(error!.message).to.match(message);
}
