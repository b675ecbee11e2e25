import type { Knex } from 'knex';
import { parseDatabaseUrl } from '../../src/config';
import { AuditStore } from '../../src/store/auditStore';
import { createKnex, openDatabase } from '../../src/store/db';

/** Direct SQL for tests that must look at (or tamper with) what is stored. */
export async function withKnex<T>(databaseUrl: string, work: (db: Knex) => Promise<T>): Promise<T> {
  const db = createKnex(parseDatabaseUrl(databaseUrl));
  try {
    return await work(db);
  } finally {
    await db.destroy();
  }
}

/** An AuditStore of its own on the database (reads, verification, commits), closed after `work`. */
export async function withStore<T>(databaseUrl: string, work: (store: AuditStore) => Promise<T>): Promise<T> {
  const store = new AuditStore(openDatabase(parseDatabaseUrl(databaseUrl)));
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

export async function countEvents(databaseUrl: string): Promise<number> {
  return withKnex(databaseUrl, async (db) => Number((await db('audit_events').count({ n: '*' }))[0].n));
}

export interface StoredCheck {
  /** Acknowledged ids that are not stored, or stored under another tenant: must be empty. */
  missing: string[];
  /** Stored ids nobody was told about (a commit whose answer was lost to a crash or an outage). */
  unacknowledged: string[];
  /** Actions stored more than once (callers give each event a unique action): must be empty. */
  duplicated: string[];
  /** Tenants whose chain does not verify, or has a gap or holds a different count: must be empty. */
  brokenChains: string[];
  stored: number;
}

/**
 * Compares what clients were told (acked: id → imsOrgId) about the tenants `orgs` with what the database holds,
 * reading it directly (not through the service), and verifies every tenant's chain. Every
 * event stored must carry a unique action, so that a request stored twice shows.
 */
export async function checkStored(
  databaseUrl: string,
  acked: Map<string, string>,
  orgs: string[],
): Promise<StoredCheck> {
  return withKnex(databaseUrl, async (db) => {
    const rows: { id: string; ims_org_id: string; action: string }[] = await db('audit_events')
      .whereIn('ims_org_id', orgs)
      .select('id', 'ims_org_id', 'action');
    const stored = new Map(rows.map((row) => [row.id, row.ims_org_id]));
    const actions = new Set<string>();
    const duplicated: string[] = [];
    for (const { action } of rows) {
      if (actions.has(action)) duplicated.push(action);
      actions.add(action);
    }
    const missing = [...acked].filter(([id, org]) => stored.get(id) !== org).map(([id]) => id);
    const unacknowledged = [...stored.keys()].filter((id) => !acked.has(id));
    const brokenChains: string[] = [];
    await withStore(databaseUrl, async (store) => {
      for (const org of orgs) {
        const result = await store.log.verify(org);
        const count = [...stored.values()].filter((o) => o === org).length;
        if (!result.verified || result.count !== count || result.headSeq !== count) {
          brokenChains.push(`${org}: ${JSON.stringify(result)} (stored ${count})`);
        }
      }
    });
    return { missing, unacknowledged, duplicated, brokenChains, stored: rows.length };
  });
}
