import type { Knex } from 'knex';

// Issue #14, erasure: audit_events.erased holds the commitments of an event's erased fields (the
// spec's ErasedCommitments, JSON text; NULL for the events never erased, which is all that new rows
// get), and audit_erasures one row per erasure with its progress. No column of audit_erasures holds
// the erased value: the job keeps it in memory only (src/erasure.ts).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_events', (table) => {
    table.text('erased').nullable();
  });
  await knex.schema.createTable('audit_erasures', (table) => {
    table.text('id').primary();
    table.text('ims_org_id').notNullable();
    // running | done | failed; a running one whose updated_at is old is served as interrupted.
    table.text('status').notNullable();
    table.bigInteger('events_erased').notNullable().defaultTo(0);
    table.bigInteger('first_seq').nullable();
    table.bigInteger('last_seq').nullable();
    // The tenant's head when the erasure began: it erases events up to it.
    table.bigInteger('up_to_seq').notNullable();
    table.text('requested_by').notNullable();
    table.bigInteger('created_at').notNullable();
    table.bigInteger('updated_at').notNullable();
    table.bigInteger('finished_at').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('audit_erasures');
  await knex.schema.alterTable('audit_events', (table) => {
    table.dropColumn('erased');
  });
}
