import { expect } from 'chai';
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { parseDatabaseUrl } from '../src/config';
import { canonicalJson } from '../src/domain/canonicalJson';
import { uuidv7 } from '../src/domain/ids';
import { formatInstant } from '../src/domain/instant';
import { eventLeafHash } from '../src/domain/leaf';
import { rootFromLeaves } from '../src/domain/merkle';
import { AuditStore } from '../src/store/auditStore';
import { createKnex, openDatabase } from '../src/store/db';
import { describeEachDatabase } from './helpers/databases';
import { sampleEvent } from './helpers/service';

// Migration 20261202000000 replaces each tenant's hash chain by its Merkle tree: it verifies the
// chain first, and a chain that does not verify stops it with nothing changed.
const MIGRATIONS_BEFORE = 7;

/** Writes a tenant's chain as the service did before the tree: chain hashes over the events and the previous hash. */
async function writeLegacyChain(db: Knex, org: string, count: number): Promise<void> {
  let previous = '0'.repeat(64);
  const rows = [];
  for (let seq = 1; seq <= count; seq++) {
    const occurredAt = Date.parse('2024-01-01T00:00:00Z') + seq * 1000;
    const event = {
      id: uuidv7(Date.now()),
      imsOrgId: org,
      seq,
      action: `action ${seq}`,
      source: 'marketingcloud',
      service: { serviceId: 'SKMS-1' },
      resource: { resourceId: `stream/${seq}` },
      userIdentifier: `user${seq}@example.com`,
      timestamp: formatInstant(occurredAt),
      receivedAt: formatInstant(occurredAt + 5),
      ...(seq % 2 === 0 && { tags: { region: 'eu', n: String(seq) } }),
    };
    previous = createHash('sha256')
      .update(canonicalJson({ ...event, prevHash: previous }))
      .digest('hex');
    rows.push({
      id: event.id,
      ims_org_id: org,
      seq,
      action: event.action,
      source: event.source,
      service_id: 'SKMS-1',
      resource_id: event.resource.resourceId,
      user_identifier: event.userIdentifier,
      occurred_at: occurredAt,
      received_at: occurredAt + 5,
      tags: event.tags ? JSON.stringify(event.tags) : null,
      hash: previous,
    });
  }
  for (let i = 0; i < rows.length; i += 200) await db('audit_events').insert(rows.slice(i, i + 200));
  await db('audit_chain_heads').insert({ ims_org_id: org, seq: count, hash: previous });
}

async function beforeTheTree(url: string, fill: (db: Knex) => Promise<void>): Promise<void> {
  const db = createKnex(parseDatabaseUrl(url));
  try {
    for (let i = 0; i < MIGRATIONS_BEFORE; i++) await db.migrate.up();
    await fill(db);
  } finally {
    await db.destroy();
  }
}

describeEachDatabase('From the hash chain to the Merkle tree (migration)', (database) => {
  it("builds every tenant's tree from its verified chain; the log then verifies, proves and grows", async function () {
    this.timeout(60_000);
    await beforeTheTree(database().url, async (db) => {
      await writeLegacyChain(db, 'big@AdobeOrg', 300);
      await writeLegacyChain(db, 'small@AdobeOrg', 3);
    });
    const store = new AuditStore(openDatabase(parseDatabaseUrl(database().url)));
    try {
      await store.migrate();
      for (const [org, size] of [
        ['big@AdobeOrg', 300],
        ['small@AdobeOrg', 3],
      ] as const) {
        const events = await store.eventsAfterSeq(org, 0, 1000);
        expect(events).to.have.length(size);
        for (const { leafHash, salts, ...hashed } of events) expect(eventLeafHash(hashed, salts)).to.equal(leafHash);
        const leaves = events.map((e) => new Uint8Array(Buffer.from(e.leafHash, 'base64')));
        const head = await store.log.head(org);
        expect(head).to.include({ size, rootHash: Buffer.from(rootFromLeaves(leaves)).toString('base64') });
        expect(await store.log.verify(org)).to.include({ verified: true, count: size });
      }
      // The tile node over the first 256 leaves was stored: a proof across it verifies.
      const { proof, root } = await store.log.inclusionProof('big@AdobeOrg', 10, 300);
      expect(proof.length).to.be.greaterThan(0);
      expect(Buffer.from(root).toString('base64')).to.equal((await store.log.head('big@AdobeOrg')).rootHash);
      const [outcome] = await store.commit([{ events: [sampleEvent({ imsOrgId: 'big@AdobeOrg' })] }]);
      expect(outcome.kind).to.equal('stored');
      expect(await store.log.verify('big@AdobeOrg')).to.include({ verified: true, count: 301 });
    } finally {
      await store.close();
    }
  });
});

describeEachDatabase('The Merkle tree migration over a broken chain', (database) => {
  it('stops with an error naming the tenant and seq, and changes nothing', async function () {
    this.timeout(60_000);
    await beforeTheTree(database().url, async (db) => {
      await writeLegacyChain(db, 'fine@AdobeOrg', 4);
      await writeLegacyChain(db, 'tampered@AdobeOrg', 6);
      await db('audit_events').where({ ims_org_id: 'tampered@AdobeOrg', seq: 4 }).update({ action: 'edited' });
    });
    const store = new AuditStore(openDatabase(parseDatabaseUrl(database().url)));
    try {
      const error = await store.migrate().then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error?.message).to.match(
        /tenant "tampered@AdobeOrg": its hash chain does not verify at seq 4 \(event 4 does not match its chain hash.*Nothing was changed/,
      );
    } finally {
      await store.close();
    }
    const db = createKnex(parseDatabaseUrl(database().url));
    try {
      expect(await db.schema.hasTable('audit_chain_heads')).to.equal(true);
      expect(await db.schema.hasTable('audit_tree_nodes')).to.equal(false);
      expect(await db.schema.hasColumn('audit_events', 'hash')).to.equal(true);
      expect(await db.schema.hasColumn('audit_events', 'salts')).to.equal(false);
      const [, pending] = (await db.migrate.list()) as [unknown[], { name: string }[]];
      // The Merkle migration and those after it (which never ran, since it failed).
      expect(pending.map((m) => m.name)).to.deep.equal([
        '20261202000000_build_merkle_trees',
        '20261203000000_add_retention',
        '20261204000000_add_erasure',
      ]);
    } finally {
      await db.destroy();
    }
  });
});
