import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AuditEvent } from '../src/domain/api';
import { parseDatabaseUrl } from '../src/config';
import { AuditStore } from '../src/store/auditStore';
import { createKnex, openDatabase } from '../src/store/db';
import { isUnavailable, StoreUnavailableError } from '../src/store/errors';
import { SqliteCommitter } from '../src/store/sqliteCommitter';
import { sampleEvent } from './helpers/service';

// SQLite commits run in a worker thread: what it throws must reach the caller with its SQLite
// code, so that a fault still answers 503 and a refused group is still retried request by request.
describe('The SQLite commit thread', () => {
  let scratch: string;
  beforeEach(() => (scratch = mkdtempSync(path.join(tmpdir(), 'audit-writer-'))));
  afterEach(() => rmSync(scratch, { recursive: true, force: true }));

  it('reports a database it cannot open as a fault (SQLITE_CANTOPEN), and tries again at the next commit', async () => {
    const writer = new SqliteCommitter({
      filename: path.join(scratch, 'missing', 'audit.db'),
      timeoutMs: 1000,
      idempotencyTtlMs: 1000,
    });
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        const error = await writer.commit([]).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(error).to.include({ code: 'SQLITE_CANTOPEN' });
        expect(isUnavailable(error)).to.equal(true);
      }
    } finally {
      await writer.close();
    }
  });

  it('passes a refused commit back with its code, keeps nothing of it, and commits again once the cause is gone', async () => {
    const store = new AuditStore(openDatabase(parseDatabaseUrl(`sqlite:${path.join(scratch, 'audit.db')}`)));
    try {
      await store.migrate();
      const event = sampleEvent() as AuditEvent;
      const [first] = await store.commit([{ events: [event] }]);
      expect(first.kind).to.equal('stored');
      // A row where the next event goes (seq 2) makes the next commit violate (org, seq).
      const forged = await store.get((first as { eventIds: string[] }).eventIds[0]);
      const db = createKnex(parseDatabaseUrl(`sqlite:${path.join(scratch, 'audit.db')}`));
      try {
        const row = await db<Record<string, unknown>>('audit_events').where({ id: forged!.id }).first();
        await db('audit_events').insert({ ...row, id: 'forged', seq: 2 });
        const error = await store.commit([{ events: [event] }]).then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(error).to.include({ code: 'SQLITE_CONSTRAINT_UNIQUE' });
        expect(error).not.to.be.instanceOf(StoreUnavailableError);
        await db('audit_events').where({ id: 'forged' }).delete();
      } finally {
        await db.destroy();
      }
      const [again] = await store.commit([{ events: [event] }]);
      expect(again.kind).to.equal('stored');
      expect(await store.log.verify(event.imsOrgId)).to.include({ verified: true, count: 2 });
    } finally {
      await store.close();
    }
  });

  it('commits a group larger than one INSERT takes (64 rows) whole, in order, and reports its time and thread', async () => {
    const store = new AuditStore(openDatabase(parseDatabaseUrl(`sqlite:${path.join(scratch, 'audit.db')}`)));
    try {
      await store.migrate();
      const event = sampleEvent() as AuditEvent;
      const outcomes = await store.commit([
        { events: Array.from({ length: 150 }, (_, i) => ({ ...event, action: `a${i}` })) },
        { events: [{ ...event, action: 'last' }] },
      ]);
      expect(outcomes.map((o) => (o as { eventIds: string[] }).eventIds.length)).to.deep.equal([150, 1]);
      const stored = await store.eventsAfterSeq(event.imsOrgId, 0, 1000);
      expect(stored.map((e) => e.action)).to.deep.equal([...Array.from({ length: 150 }, (_, i) => `a${i}`), 'last']);
      expect(stored.map((e) => e.seq)).to.deep.equal(Array.from({ length: 151 }, (_, i) => i + 1));
      expect(await store.log.verify(event.imsOrgId)).to.include({ verified: true, count: 151 });
      const timing = store.takeCommitTiming();
      expect(timing.threadMs).to.be.above(0).and.at.least(timing.commitMs);
      expect(timing.writerTid).to.be.a('number').and.not.equal(process.pid);
      expect(store.takeCommitTiming()).to.include({ threadMs: 0, commitMs: 0 });
    } finally {
      await store.close();
    }
  });
});
