import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  const postgres = (knex.client as { config: { client: string } }).config.client === 'pg';
  await knex.schema.createTable('audit_events', (table) => {
    table.text('id').primary(); // UUIDv7: time-sortable, assigned by the server
    table.text('ims_org_id').notNullable();
    table.bigInteger('seq').notNullable(); // position in the tenant's hash chain
    table.text('action').notNullable();
    table.text('source').notNullable();
    table.text('service_id').notNullable();
    table.text('resource_id').notNullable();
    table.text('user_identifier').notNullable();
    // Instants as epoch milliseconds: exact, portable, and cheap to index and compare.
    table.bigInteger('occurred_at').notNullable();
    table.bigInteger('received_at').notNullable();
    // jsonb keeps string values exactly and can be searched by containment; SQLite keeps the JSON text.
    if (postgres) table.jsonb('tags');
    else table.text('tags');
    table.text('hash').notNullable();
    table.unique(['ims_org_id', 'seq']);
    // Serves per-tenant reads newest-first by event time, with id breaking ties.
    table.index(['ims_org_id', 'occurred_at', 'id'], 'audit_events_org_time');
  });
  await knex.schema.createTable('audit_chain_heads', (table) => {
    // One row per tenant; the inserting transaction locks it, so every instance extends one chain.
    table.text('ims_org_id').primary();
    table.bigInteger('seq').notNullable();
    table.text('hash').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('audit_chain_heads');
  await knex.schema.dropTable('audit_events');
}
