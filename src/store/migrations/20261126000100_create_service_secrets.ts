import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  // Secrets every instance on this database must share (the cursor-signing key), created on
  // first use: nothing to configure, and they survive restarts.
  await knex.schema.createTable('service_secrets', (table) => {
    table.text('name').primary();
    table.text('value').notNullable(); // base64
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('service_secrets');
}
