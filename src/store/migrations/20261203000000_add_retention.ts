import type { Knex } from 'knex';

// Issue #14, retention: each tenant's policy, and how far its log has been pruned. The pruned
// prefix's leaf hashes move into audit_tree_nodes as level-0 nodes (that table's key already
// takes any level), so no other table changes. pruned_through lives on the head row because a
// purge locks that row anyway: the lock that orders commits also orders purges.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_retention_policies', (table) => {
    table.text('ims_org_id').primary();
    // An ISO 8601 duration (src/domain/retention.ts); null keeps forever.
    table.text('retention').nullable();
    table.boolean('legal_hold').notNullable().defaultTo(false);
    table.bigInteger('updated_at').notNullable();
  });
  await knex.schema.alterTable('audit_log_heads', (table) => {
    table.bigInteger('pruned_through').notNullable().defaultTo(0);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_log_heads', (table) => {
    table.dropColumn('pruned_through');
  });
  await knex.schema.dropTable('audit_retention_policies');
}
