import { expect } from 'chai';
import { parseDatabaseUrl } from '../src/config';
import type { AuditEvent } from '../src/domain/api';
import { AuditStore } from '../src/store/auditStore';
import { createKnex, openDatabase } from '../src/store/db';
import { describeEachDatabase } from './helpers/databases';
import { sampleEvent } from './helpers/service';

// Migration 20261201100000 keys idempotency_keys by a digest of (client_id, key): keys stored
// before it must still replay after it, and down() must give the old table back.
describeEachDatabase('Idempotency keys by digest (migration)', (database) => {
  it('keeps keys stored before it: a retry replays them afterwards, and down() restores the old table', async () => {
    const db = createKnex(parseDatabaseUrl(database().url));
    const expiresAt = Date.now() + 3600_000;
    const old = {
      client_id: 'old-client',
      key: 'old-key',
      request_hash: 'h',
      event_ids: '["e1","e2"]',
      expires_at: expiresAt,
    };
    try {
      for (let i = 0; i < 4; i++) await db.migrate.up(); // the migrations before this one
      await db('idempotency_keys').insert(old);
    } finally {
      await db.destroy();
    }
    const store = new AuditStore(openDatabase(parseDatabaseUrl(database().url)));
    try {
      await store.migrate();
      const claim = { clientId: 'old-client', key: 'old-key', requestHash: 'h' };
      const event = sampleEvent() as AuditEvent;
      expect(await store.commit([{ events: [event], idempotency: claim }])).to.deep.equal([
        { kind: 'replayed', eventIds: ['e1', 'e2'] },
      ]);
      expect(await store.commit([{ events: [event], idempotency: { ...claim, requestHash: 'other' } }])).to.deep.equal([
        { kind: 'mismatch' },
      ]);
    } finally {
      await store.close();
    }
    const back = createKnex(parseDatabaseUrl(database().url));
    try {
      await back.migrate.down({ name: '20261201100000_key_idempotency_by_digest' });
      const rows = await back('idempotency_keys').select('client_id', 'key', 'request_hash', 'event_ids');
      expect(rows).to.deep.equal([
        { client_id: 'old-client', key: 'old-key', request_hash: 'h', event_ids: '["e1","e2"]' },
      ]);
    } finally {
      await back.destroy();
    }
  });
});
