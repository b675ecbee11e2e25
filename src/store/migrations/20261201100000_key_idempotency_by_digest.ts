import { createHash } from 'node:crypto';
import type { Knex } from 'knex';

// Keys idempotency_keys by key_digest = SHA-256 (hex) of the JSON array [client_id, key]
// instead of (client_id, key): a long client id made the primary key's B-tree entry too large
// for PostgreSQL (about 2.7 kB), and the insert failed. client_id and key stay, unindexed, so
// that down() can restore the old table. Neither database can change a primary key in place
// (SQLite not at all), so the table is copied. Frozen history: the digest is written out here
// rather than imported, and must stay equal to idempotencyDigest in src/domain/linking.ts.
const digest = (clientId: string, key: string) =>
  createHash('sha256')
    .update(JSON.stringify([clientId, key]))
    .digest('hex');

// Keys live a day: few rows, but copied in batches so memory stays bounded on any table.
const BATCH = 1000;

interface OldRow {
  client_id: string;
  key: string;
  request_hash: string;
  event_ids: string;
  expires_at: number | string;
}

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('idempotency_keys_by_digest', (table) => {
    table.text('key_digest').primary();
    table.text('client_id').notNullable();
    table.text('key').notNullable();
    table.text('request_hash').notNullable();
    table.text('event_ids').notNullable();
    table.bigInteger('expires_at').notNullable();
  });
  let after: Pick<OldRow, 'client_id' | 'key'> | undefined;
  for (;;) {
    const query = knex<OldRow>('idempotency_keys').orderBy(['client_id', 'key']).limit(BATCH);
    if (after) {
      const { client_id, key } = after;
      // (client_id, key) strictly after the last row copied.
      query.where('client_id', '>=', client_id).whereNot((q) => {
        void q.where({ client_id }).where('key', '<=', key);
      });
    }
    const rows: OldRow[] = await query;
    if (rows.length === 0) break;
    await knex('idempotency_keys_by_digest').insert(
      rows.map((row) => ({ key_digest: digest(row.client_id, row.key), ...row })),
    );
    after = rows.at(-1);
  }
  await knex.schema.dropTable('idempotency_keys');
  await knex.schema.renameTable('idempotency_keys_by_digest', 'idempotency_keys');
  await knex.schema.alterTable('idempotency_keys', (table) => table.index(['expires_at'], 'idempotency_keys_expiry'));
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.createTable('idempotency_keys_by_pair', (table) => {
    table.text('client_id').notNullable();
    table.text('key').notNullable();
    table.text('request_hash').notNullable();
    table.text('event_ids').notNullable();
    table.bigInteger('expires_at').notNullable();
    table.primary(['client_id', 'key']);
  });
  // A key whose client id is too long for the old primary key cannot go back; it is dropped.
  await knex.raw(
    `INSERT INTO idempotency_keys_by_pair (client_id, key, request_hash, event_ids, expires_at)
     SELECT client_id, key, request_hash, event_ids, expires_at FROM idempotency_keys WHERE length(client_id) <= 1000`,
  );
  await knex.schema.dropTable('idempotency_keys');
  await knex.schema.renameTable('idempotency_keys_by_pair', 'idempotency_keys');
  await knex.schema.alterTable('idempotency_keys', (table) => table.index(['expires_at'], 'idempotency_keys_expiry'));
}
