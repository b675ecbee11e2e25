import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('webhook_subscriptions', (table) => {
    table.text('ims_org_id').notNullable();
    table.text('id').notNullable();
    table.text('url').notNullable();
    table.text('format').notNullable();
    // The deliverer signs with it, so it is kept as it is; it is never served after the 201.
    table.text('secret').notNullable();
    table.bigInteger('created_at').notNullable();
    table.bigInteger('last_delivered_seq').notNullable();
    // The batch being retried ends here, so a retry repeats the same batch (and webhook-id).
    table.bigInteger('batch_end_seq');
    table.integer('attempts').notNullable().defaultTo(0);
    table.bigInteger('failing_since');
    table.bigInteger('next_attempt_at').notNullable();
    table.text('last_error');
    // The instance delivering it, until lease_expires_at (epoch ms).
    table.text('lease_owner');
    table.bigInteger('lease_expires_at');
    table.primary(['ims_org_id', 'id']);
    table.unique(['id']);
    table.index(['next_attempt_at'], 'webhook_subscriptions_due');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('webhook_subscriptions');
}
