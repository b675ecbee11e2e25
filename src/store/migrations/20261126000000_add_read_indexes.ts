import type { Knex } from 'knex';

// Every list and export reads one tenant ordered by (occurred_at, id), so each index leads with
// ims_org_id and ends with (occurred_at, id): the database seeks to the tenant (and filter value),
// walks the index in order from the cursor's position and stops after one page, however large
// the tenant grows. The unfiltered and time-range reads use audit_events_org_time from the first
// migration; each equality filter gets its own index so that a rare value (one user's events
// among a million) is a seek, not a scan. Tag filters have no index: they are checked per row
// while walking one of these indexes.
const FILTER_COLUMNS = ['action', 'source', 'service_id', 'resource_id', 'user_identifier'] as const;

// A PostgreSQL B-tree entry must fit in about 2.7 kB. userIdentifier (512 characters) and
// resourceId (1024) can exceed that in UTF-8, so PostgreSQL indexes their md5 and the store
// matches the md5 first, then the exact value. SQLite has no such limit.
export const DIGEST_INDEXED_COLUMNS: ReadonlySet<string> = new Set(['resource_id', 'user_identifier']);

const indexName = (column: string) => `audit_events_org_${column}_time`;

export async function up(knex: Knex): Promise<void> {
  const postgres = (knex.client as { config: { client: string } }).config.client === 'pg';
  for (const column of FILTER_COLUMNS) {
    const key = postgres && DIGEST_INDEXED_COLUMNS.has(column) ? `md5(${column})` : column;
    await knex.raw(`CREATE INDEX ${indexName(column)} ON audit_events (ims_org_id, ${key}, occurred_at, id)`);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const column of FILTER_COLUMNS) await knex.raw(`DROP INDEX ${indexName(column)}`);
}
