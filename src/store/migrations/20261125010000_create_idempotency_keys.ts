import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('idempotency_keys', (table) => {
    // Keys are scoped to the client that sent them.
    table.text('client_id').notNullable();
    table.text('key').notNullable();
    // SHA-256 of the canonical request: a retry must send the same body to get the same answer.
    table.text('request_hash').notNullable();
    // The ids the original request stored, in input order (JSON array): enough to replay its 201.
    table.text('event_ids').notNullable();
    table.bigInteger('expires_at').notNullable();
    table.primary(['client_id', 'key']);
    table.index(['expires_at'], 'idempotency_keys_expiry');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('idempotency_keys');
}
