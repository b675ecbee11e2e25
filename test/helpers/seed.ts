import Database from 'better-sqlite3';
import type { StoredAuditEvent } from '../../src/domain/api';
import { chainHash, GENESIS_HASH } from '../../src/domain/chain';
import { formatInstant } from '../../src/domain/instant';
import { uuidv7 } from '../../src/domain/ids';

/**
 * Appends `count` events to a tenant's chain in a migrated SQLite file, straight through SQL in
 * one transaction: a large tenant in seconds, where the API would take minutes. The chain is
 * real (seq, hashes, head), so it verifies. `tags(i)` gives the i-th event's tags.
 */
export function seedSqliteChain(
  filename: string,
  imsOrgId: string,
  count: number,
  tags: (i: number) => Record<string, string> | undefined = (i) => ({ region: i % 2 ? 'us' : 'eu' }),
): void {
  const db = new Database(filename);
  try {
    // Room for the indexes while they fill: without it the seed spends its time re-reading pages.
    db.pragma('cache_size = -262144');
    const insert = db.prepare(
      `INSERT INTO audit_events (id, ims_org_id, seq, action, source, service_id, resource_id, user_identifier,
         occurred_at, received_at, tags, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const head = db.prepare('SELECT seq, hash FROM audit_chain_heads WHERE ims_org_id = ?');
    const setHead = db.prepare(
      `INSERT INTO audit_chain_heads (ims_org_id, seq, hash) VALUES (?, ?, ?)
       ON CONFLICT (ims_org_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`,
    );
    db.transaction(() => {
      const start = (head.get(imsOrgId) as { seq: number; hash: string } | undefined) ?? { seq: 0, hash: GENESIS_HASH };
      let previous = start.hash;
      const now = Date.now();
      for (let i = 0; i < count; i++) {
        const seq = start.seq + i + 1;
        const occurredAt = Date.parse('2024-01-01T00:00:00Z') + seq * 1000;
        const eventTags = tags(i);
        const event: Omit<StoredAuditEvent, 'hash'> = {
          // Ids in insertion order, as the writer mints them.
          id: uuidv7(now - count + i),
          imsOrgId,
          seq,
          action: ['create', 'update', 'delete'][i % 3],
          source: 'marketingcloud',
          service: { serviceId: `SKMS-${i % 4}` },
          resource: { resourceId: `stream/${i % 50}` },
          userIdentifier: `user${i % 100}@example.com`,
          timestamp: formatInstant(occurredAt),
          receivedAt: formatInstant(now),
          ...(eventTags && { tags: eventTags }),
        };
        previous = chainHash(event, previous);
        insert.run(
          event.id,
          imsOrgId,
          seq,
          event.action,
          event.source,
          event.service.serviceId,
          event.resource.resourceId,
          event.userIdentifier,
          occurredAt,
          now,
          eventTags ? JSON.stringify(eventTags) : null,
          previous,
        );
      }
      setHead.run(imsOrgId, start.seq + count, previous);
    })();
  } finally {
    db.close();
  }
}
