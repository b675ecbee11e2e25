import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { describeEachDatabase, type DatabaseKind } from './helpers/databases';
import { TAMPERINGS as tamperings, where } from './helpers/tamperings';
import { EMPTY_ROOT, rootFromLeaves } from '../src/domain/merkle';
import { postJson, sampleEvent, startService, type RunningService } from './helpers/service';
import { countEvents, withKnex } from './helpers/sql';
import { authHeaders } from './helpers/tokens';

const run = promisify(execFile);
let orgCounter = 0;
/** A fresh tenant per test, so chains and counts never interfere. */
const freshOrg = (label: string) => `${label}-${Date.now()}-${orgCounter++}@AdobeOrg`;

describeEachDatabase('Trustworthy ingest', (database, kind) => {
  let running: RunningService;
  let headers: Record<string, string>;
  before(async () => {
    running = await startService(database().url);
    headers = await authHeaders({ orgs: '*' });
  });
  after(() => running?.close());

  const post = (path: string, body: unknown, extra: Record<string, string> = {}) =>
    postJson(`${running.url}${path}`, body, { ...headers, ...extra });
  const seed = async (org: string, n: number) => {
    const res = await post(
      '/audits/batch',
      Array.from({ length: n }, (_, i) => sampleEvent({ imsOrgId: org, action: `a${i}` })),
    );
    expect(res.status).to.equal(201);
    return ((await res.json()) as { ids: string[] }).ids;
  };
  const verify = async (org: string, extra: Record<string, string> = {}) => {
    const res = await fetch(`${running.url}/audits/verify?imsOrgId=${encodeURIComponent(org)}`, {
      headers: { ...headers, ...extra },
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  describe('POST /audits/batch', () => {
    it('stores every event, answering their ids in input order', async () => {
      const org = freshOrg('batch');
      const events = Array.from({ length: 25 }, (_, i) => sampleEvent({ imsOrgId: org, action: `act-${i}` }));
      const res = await post('/audits/batch', events);
      expect(res.status).to.equal(201);
      const { ids } = (await res.json()) as { ids: string[] };
      expect(ids).to.have.length(25);
      for (const [i, id] of ids.entries()) {
        const stored = await running.service.store.get(id);
        expect(stored).to.include({ action: `act-${i}`, seq: i + 1 });
      }
    });

    it('is all or nothing: one invalid item is 400 naming each failing index and field, and nothing is stored', async () => {
      const org = freshOrg('invalid');
      const events = [
        sampleEvent({ imsOrgId: org }),
        sampleEvent({ imsOrgId: org, timestamp: '2017-02-30T00:00:00Z' }),
        sampleEvent({ imsOrgId: org }),
        { ...sampleEvent({ imsOrgId: org }), action: undefined, extra: 1 },
      ];
      const before = await countEvents(database().url);
      const res = await post('/audits/batch', events);
      expect(res.status).to.equal(400);
      const body = (await res.json()) as { reason: string; message: string; details: { path: string }[] };
      expect(body.reason).to.equal('bad_request');
      expect(body.details.map((d) => d.path)).to.have.members(['body[1].timestamp', 'body[3].action', 'body[3].extra']);
      expect(body.message).to.contain('body[1].timestamp').and.contain('body[3].action');
      expect(await countEvents(database().url)).to.equal(before);
    });

    it('is 403 when one item is outside the token orgs, and nothing is stored', async () => {
      const limited = await authHeaders({ orgs: ['ORG-A@AdobeOrg'] });
      const before = await countEvents(database().url);
      const res = await post('/audits/batch', [sampleEvent(), sampleEvent({ imsOrgId: 'ORG-B@AdobeOrg' })], limited);
      expect(res.status).to.equal(403);
      expect(await res.json()).to.deep.include({
        reason: 'forbidden',
        message: 'token does not cover imsOrgId "ORG-B@AdobeOrg"',
      });
      expect(await countEvents(database().url)).to.equal(before);
    });

    it('refuses an empty batch, more than 1000 items, a non-array and a body over 1 MiB', async () => {
      const before = await countEvents(database().url);
      expect((await post('/audits/batch', [])).status).to.equal(400);
      const tooMany = await post(
        '/audits/batch',
        Array.from({ length: 1001 }, () => ({ action: 'a' })),
      );
      expect(tooMany.status).to.equal(400);
      expect(((await tooMany.json()) as { message: string }).message).to.contain('must NOT have more than 1000 items');
      expect((await post('/audits/batch', sampleEvent())).status).to.equal(400);
      const big = Array.from({ length: 300 }, () => sampleEvent({ userIdentifier: 'u'.repeat(4000) }));
      const tooLarge = await post('/audits/batch', big);
      expect(tooLarge.status).to.equal(413);
      expect(((await tooLarge.json()) as { message: string }).message).to.equal(
        'request body exceeds the limit of 1048576 bytes',
      );
      expect(await countEvents(database().url)).to.equal(before);
    });

    it('accepts 1000 events within the byte cap', async () => {
      const org = freshOrg('thousand');
      expect(await seed(org, 1000)).to.have.length(1000);
      expect((await verify(org)).body).to.include({ verified: true, count: 1000, headSeq: 1000 });
    });
  });

  describe('Idempotency-Key', () => {
    it('replays the same id for the same key and body, storing once', async () => {
      const org = freshOrg('idem');
      const event = sampleEvent({ imsOrgId: org });
      const first = await post('/audits', event, { 'idempotency-key': 'key-1' });
      expect(first.status).to.equal(201);
      expect(first.headers.get('idempotent-replayed')).to.equal('false');
      const id = (await first.json()) as string;
      const again = await post('/audits', event, { 'idempotency-key': 'key-1' });
      expect(again.status).to.equal(201);
      expect(again.headers.get('idempotent-replayed')).to.equal('true');
      expect(again.headers.get('location')).to.equal(`/audits/${id}`);
      expect(await again.json()).to.equal(id);
      expect((await verify(org)).body).to.include({ count: 1 });
    });

    it('stores once when retries arrive concurrently', async () => {
      const org = freshOrg('concurrent');
      const event = sampleEvent({ imsOrgId: org });
      const responses = await Promise.all(
        Array.from({ length: 20 }, () => post('/audits', event, { 'idempotency-key': 'same' })),
      );
      expect(responses.map((r) => r.status)).to.deep.equal(Array(20).fill(201));
      const ids = new Set(await Promise.all(responses.map((r) => r.json())));
      expect(ids.size).to.equal(1);
      expect(responses.filter((r) => r.headers.get('idempotent-replayed') === 'true')).to.have.length(19);
      expect((await verify(org)).body).to.include({ count: 1, verified: true });
    });

    it('answers 422 for the same key with a different body, storing nothing', async () => {
      const org = freshOrg('mismatch');
      await post('/audits', sampleEvent({ imsOrgId: org }), { 'idempotency-key': 'k' });
      const res = await post('/audits', sampleEvent({ imsOrgId: org, action: 'other' }), { 'idempotency-key': 'k' });
      expect(res.status).to.equal(422);
      expect(await res.json()).to.deep.include({ reason: 'idempotency_key_reused' });
      expect((await verify(org)).body).to.include({ count: 1 });
    });

    it('treats the same key and events on the other endpoint as a different request', async () => {
      const org = freshOrg('cross');
      const event = sampleEvent({ imsOrgId: org });
      expect((await post('/audits', event, { 'idempotency-key': 'cross' })).status).to.equal(201);
      expect((await post('/audits/batch', [event], { 'idempotency-key': 'cross' })).status).to.equal(422);
    });

    it('replays a batch with all its ids', async () => {
      const org = freshOrg('batch-idem');
      const events = [sampleEvent({ imsOrgId: org }), sampleEvent({ imsOrgId: org, action: 'b' })];
      const first = (await (await post('/audits/batch', events, { 'idempotency-key': 'b1' })).json()) as {
        ids: string[];
      };
      const again = await post('/audits/batch', events, { 'idempotency-key': 'b1' });
      expect(again.headers.get('idempotent-replayed')).to.equal('true');
      expect(await again.json()).to.deep.equal(first);
      expect((await verify(org)).body).to.include({ count: 2 });
    });

    it('scopes keys to the client', async () => {
      const org = freshOrg('scoped');
      const event = sampleEvent({ imsOrgId: org });
      const mine = await (await post('/audits', event, { 'idempotency-key': 'shared' })).json();
      const otherClient = await authHeaders({ clientId: 'other-client', orgs: '*' });
      const theirs = await postJson(`${running.url}/audits`, event, { ...otherClient, 'idempotency-key': 'shared' });
      expect(theirs.status).to.equal(201);
      expect(await theirs.json()).to.not.equal(mine);
    });

    it('takes a key from a client whose id is 3,000 characters: 201, then the replay (#11 item 8)', async () => {
      // (client_id, key) as the key row's primary key made PostgreSQL's B-tree entry too large (a 500).
      // Random, so that PostgreSQL cannot compress the entry below its limit.
      const clientId = randomBytes(1500).toString('hex');
      const org = freshOrg('long-client');
      const event = sampleEvent({ imsOrgId: org });
      const longClient = { ...(await authHeaders({ clientId, orgs: '*' })), 'idempotency-key': 'k' };
      const first = await postJson(`${running.url}/audits`, event, longClient);
      expect(first.status).to.equal(201);
      const id: unknown = await first.json();
      const again = await postJson(`${running.url}/audits`, event, longClient);
      expect(again.status).to.equal(201);
      expect(again.headers.get('idempotent-replayed')).to.equal('true');
      expect(await again.json()).to.equal(id);
      expect((await verify(org)).body).to.include({ count: 1 });
    });

    it('forgets expired keys, and purges them', async () => {
      const org = freshOrg('expiry');
      const event = sampleEvent({ imsOrgId: org });
      const first = await (await post('/audits', event, { 'idempotency-key': 'old' })).json();
      const purged = await running.service.store.deleteExpiredIdempotencyKeys(Date.now() + 25 * 3600_000);
      expect(purged).to.be.greaterThan(0);
      const second = await post('/audits', event, { 'idempotency-key': 'old' });
      expect(second.headers.get('idempotent-replayed')).to.equal('false');
      expect(await second.json()).to.not.equal(first);
    });

    it('refuses a malformed key with 400', async () => {
      const res = await post('/audits/batch', [sampleEvent()], { 'idempotency-key': 'x'.repeat(256) });
      expect(res.status).to.equal(400);
      expect(((await res.json()) as { message: string }).message).to.match(
        /^header\["idempotency-key"\] must NOT have more than 255 characters$/,
      );
    });
  });

  describe('verifiable log', () => {
    it('keeps one gapless log per tenant under concurrent single and batch posts', async () => {
      const orgs = [freshOrg('c1'), freshOrg('c2')];
      await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          i % 3 === 0
            ? post('/audits/batch', [sampleEvent({ imsOrgId: orgs[0] }), sampleEvent({ imsOrgId: orgs[1] })])
            : post('/audits', sampleEvent({ imsOrgId: orgs[i % 2] })),
        ),
      );
      const [a, b] = await Promise.all(orgs.map((org) => verify(org)));
      expect(a.body.verified && b.body.verified).to.equal(true);
      expect((a.body.count as number) + (b.body.count as number)).to.equal(40);
      expect(a.body.headSeq).to.equal(a.body.count);
    });

    it('exposes seq and leaf hash as the receipt: the head is the tree of the leaves, the head hash the last leaf', async () => {
      const org = freshOrg('receipt');
      const ids = await seed(org, 3);
      const events = await Promise.all(ids.map((id) => running.service.store.get(id)));
      const leaves = events.map((e) => new Uint8Array(Buffer.from(e!.leafHash, 'base64')));
      expect((await verify(org)).body).to.deep.equal({
        imsOrgId: org,
        verified: true,
        count: 3,
        headSeq: 3,
        headHash: Buffer.from(leaves[2]).toString('hex'),
        treeSize: 3,
        rootHash: Buffer.from(rootFromLeaves(leaves)).toString('base64'),
        prunedThrough: 0,
        erasedEvents: 0,
      });
    });

    it('answers verified with count 0 for an org with no events', async () => {
      const org = freshOrg('empty');
      expect((await verify(org)).body).to.deep.equal({
        imsOrgId: org,
        verified: true,
        count: 0,
        headSeq: 0,
        headHash: '0'.repeat(64),
        treeSize: 0,
        rootHash: Buffer.from(EMPTY_ROOT).toString('base64'),
        prunedThrough: 0,
        erasedEvents: 0,
      });
    });

    for (const [name, tamper, brokenAt, reason] of tamperings) {
      it(`detects ${name}`, async () => {
        const org = freshOrg('tamper');
        await seed(org, 5);
        expect((await verify(org)).body.verified).to.equal(true);
        await withKnex(database().url, (db) => tamper(db, org));
        const { body } = await verify(org);
        expect(body).to.include({ verified: false, brokenAt });
        expect(body.reason).to.match(reason);
      });
    }

    const cli = (org: string) =>
      run('npx', ['tsx', 'scripts/verify.ts', '--org', org, '--database', database().url]).then(
        (r) => ({ code: 0, out: r.stdout }),
        (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
      );

    describe('rows outside the chain', () => {
      // The migration that refuses such seqs; undone for the insert, then run again.
      const SEQ_GUARD = '20261201000000_refuse_seq_outside_chain';
      // A stray row of each kind, stored as a database from before the schema refused them could
      // hold it (or one whose guard was dropped): the guard is lifted for the insert, then restored.
      const strays: [string, unknown, DatabaseKind[]][] = [
        ['seq 0', 0, ['sqlite', 'postgres']],
        ['a negative seq', -3, ['sqlite', 'postgres']],
        ['a text seq', 'x', ['sqlite']],
        ['a text seq that reads as a number', '0x5', ['sqlite']],
        ['a fractional seq inside the chain', 2.5, ['sqlite']],
      ];
      for (const [name, seq, kinds] of strays.filter(([, , kinds]) => kinds.includes(kind))) {
        it(`names a row with ${name} (${kinds.join(', ')}): verify and npm run verify fail`, async function () {
          const org = freshOrg('stray');
          await seed(org, 5);
          const forged = await withKnex(database().url, async (db) => {
            const row = (await db('audit_events').where(where(org, 2)).first()) as { id: string };
            const id = `${row.id.slice(0, -4)}f0f0`;
            await db.migrate.down({ name: SEQ_GUARD });
            try {
              await db('audit_events').insert({ ...row, id, seq });
            } finally {
              await db.migrate.up({ name: SEQ_GUARD });
            }
            return id;
          });
          const { body } = await verify(org);
          expect(body).to.include({ verified: false });
          expect(body.reason).to.contain(forged).and.contain(String(seq));
          const result = await cli(org);
          expect(result.code).to.equal(1);
          expect(result.out).to.contain(forged);
        });
      }

      it('is refused by the schema: a seq below 1 (or, on SQLite, not an integer) cannot be written', async () => {
        const org = freshOrg('guard');
        await seed(org, 2);
        const invalid = database().kind === 'sqlite' ? [0, -1, 'x', 1.5] : [0, -1];
        await withKnex(database().url, async (db) => {
          const row = (await db('audit_events').where(where(org, 2)).first()) as { id: string };
          for (const seq of invalid) {
            const insert = db('audit_events').insert({ ...row, id: `${row.id}-${String(seq)}`, seq });
            await insert.then(
              () => expect.fail(`stored seq ${String(seq)}`),
              (error: Error) => expect(error.message).to.match(/seq/),
            );
            await db('audit_events')
              .where(where(org, 2))
              .update({ seq })
              .then(
                () => expect.fail(`moved to seq ${String(seq)}`),
                (error: Error) => expect(error.message).to.match(/seq/),
              );
          }
        });
        expect((await verify(org)).body).to.include({ verified: true, count: 2 });
      });

      it('detects tags edited to hold a duplicate key (SQLite keeps the text; jsonb keeps one key)', async () => {
        const org = freshOrg('dupkey');
        await seed(org, 3);
        // The hashed tags are {"region":"eu-west-1"}; the text also says region is "us", which tag filters see.
        await withKnex(database().url, (db) =>
          db('audit_events').where(where(org, 2)).update({ tags: '{"region":"us","region":"eu-west-1"}' }),
        );
        const { body } = await verify(org);
        const filtered = await fetch(`${running.url}/audits?imsOrgId=${encodeURIComponent(org)}&tag=region:us`, {
          headers,
        });
        const page = (await filtered.json()) as { items: unknown[] };
        if (database().kind === 'sqlite') {
          expect(body).to.include({ verified: false, brokenAt: 2 });
          expect(body.reason).to.match(/tags in a form other than the one its hash covers/);
        } else {
          // jsonb stored one key, the hashed one: nothing differs from what the hash covers.
          expect(body).to.include({ verified: true, count: 3 });
          expect(page.items).to.deep.equal([]);
        }
      });

      if (kind === 'sqlite')
        it('detects stored values that read as the hashed ones but are not their stored form (SQLite)', async function () {
          const edits: [string, string, RegExp][] = [
            ['tags with spaces', `UPDATE audit_events SET tags = '{"region": "eu-west-1"}' WHERE id = ?`, /tags/],
            [
              'a fractional timestamp',
              'UPDATE audit_events SET occurred_at = occurred_at + 0.5 WHERE id = ?',
              /occurred_at/,
            ],
            [
              'a text receivedAt',
              "UPDATE audit_events SET received_at = 'x' || received_at WHERE id = ?",
              /received_at/,
            ],
          ];
          for (const [name, sql, reason] of edits) {
            const org = freshOrg('form');
            const [, second] = await seed(org, 3);
            await withKnex(database().url, (db) => db.raw(sql, [second]));
            const { body } = await verify(org);
            expect(body, name).to.include({ verified: false, brokenAt: 2 });
            expect(body.reason, name).to.match(reason);
          }
        });
    });

    it('verifies only for readers of the org: 403 otherwise, 400 without imsOrgId', async () => {
      expect((await verify('ORG-B@AdobeOrg', await authHeaders({ orgs: ['ORG-A@AdobeOrg'] }))).status).to.equal(403);
      expect((await verify('ORG-A@AdobeOrg', await authHeaders({ scope: 'audit.write' }))).status).to.equal(403);
      const res = await fetch(`${running.url}/audits/verify`, { headers });
      expect(res.status).to.equal(400);
      expect(await res.json()).to.deep.include({ message: 'query.imsOrgId is required' });
    });

    it('npm run verify exits 0 on an intact chain and 1 on a broken one, saying where', async () => {
      const org = freshOrg('cli');
      await seed(org, 4);
      const intact = await cli(org);
      expect(intact.code).to.equal(0);
      expect(intact.out).to.match(/OK: 4 events verified/);
      await withKnex(database().url, (db) =>
        db('audit_events').where({ ims_org_id: org, seq: 2 }).update({ source: 'x' }),
      );
      const broken = await cli(org);
      expect(broken.code).to.equal(1);
      expect(broken.out).to.match(/BROKEN at seq 2: event 2 \(.*\) does not match its leaf hash/);
    });
  });
});
