import Database from 'better-sqlite3';
import type { AuditEvent } from '../../src/domain/api';
import { formatInstant } from '../../src/domain/instant';
import { EMPTY_HEAD, linkGroup, planGroup } from '../../src/domain/linking';
import {
  EVENT_COLUMNS,
  eventValues,
  fromHeadRow,
  type HeadRow,
  NODE_COLUMNS,
  nodeValues,
  toHeadRow,
  toNodeRow,
  toRow,
} from '../../src/store/rows';

const CHUNK = 10_000;

/**
 * Appends `count` events to a tenant's log in a migrated SQLite file, straight through SQL in
 * one transaction: a large tenant in seconds, where the API would take minutes. The events are
 * linked by the writer's own rules (linkGroup: seq, salts, leaf hashes, tree nodes, head), so
 * the log verifies. `tags(i)` gives the i-th event's tags.
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
      `INSERT INTO audit_events (${EVENT_COLUMNS.join(', ')}) VALUES (${EVENT_COLUMNS.map(() => '?').join(', ')})`,
    );
    const insertNode = db.prepare(
      `INSERT INTO audit_tree_nodes (${NODE_COLUMNS.join(', ')}) VALUES (${NODE_COLUMNS.map(() => '?').join(', ')})`,
    );
    const selectHead = db.prepare<[string], HeadRow>('SELECT * FROM audit_log_heads WHERE ims_org_id = ?');
    const setHead = db.prepare(
      `INSERT INTO audit_log_heads (ims_org_id, seq, root_hash, frontier) VALUES (?, ?, ?, ?)
       ON CONFLICT (ims_org_id) DO UPDATE SET seq = excluded.seq, root_hash = excluded.root_hash, frontier = excluded.frontier`,
    );
    db.transaction(() => {
      const row = selectHead.get(imsOrgId);
      let head = row ? fromHeadRow(row) : EMPTY_HEAD;
      const now = Date.now();
      for (let done = 0; done < count; done += CHUNK) {
        const events = Array.from({ length: Math.min(CHUNK, count - done) }, (_, j): AuditEvent => {
          const i = done + j;
          const eventTags = tags(i);
          return {
            imsOrgId,
            action: ['create', 'update', 'delete'][i % 3],
            source: 'marketingcloud',
            service: { serviceId: `SKMS-${i % 4}` },
            resource: { resourceId: `stream/${i % 50}` },
            userIdentifier: `user${i % 100}@example.com`,
            timestamp: formatInstant(Date.parse('2024-01-01T00:00:00Z') + (head.size + j + 1) * 1000),
            ...(eventTags && { tags: eventTags }),
          };
        });
        const requests = [{ events }];
        const linked = linkGroup(requests, planGroup(requests, []), new Map([[imsOrgId, head]]), now, 0);
        for (const event of linked.events) insert.run(eventValues(toRow(event)));
        for (const node of linked.nodes) insertNode.run(nodeValues(toNodeRow(node)));
        head = linked.heads.get(imsOrgId)!;
      }
      const moved = toHeadRow(imsOrgId, head);
      setHead.run(moved.ims_org_id, moved.seq, moved.root_hash, moved.frontier);
    })();
  } finally {
    db.close();
  }
}
