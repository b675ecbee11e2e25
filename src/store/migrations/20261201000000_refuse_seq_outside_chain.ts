import type { Knex } from 'knex';

// A row's seq is its place in its tenant's chain: an integer from 1. The schema refuses any
// other from now on. Rows already stored are left as they are, on both databases: such a row is
// evidence of tampering, verification names it (id and seq), and refusing to start over it
// would let one forged row stop the service.
//
// SQLite cannot add a CHECK to an existing table without rebuilding it (copying every row of
// the largest table and its eight indexes, with twice its disk space); triggers refuse the same
// writes and are added at once at any size. Its INTEGER affinity turns text such as '7' into an
// integer, so typeof() catches only what could never be a position ('x', 7.5, a blob).
// PostgreSQL: a CHECK added NOT VALID (no scan while holding the table's exclusive lock), then
// validated, which scans without blocking writes, when no row already breaks it. Outside a
// transaction, so the two locks are not held together; each step is safe to repeat.
export const config = { transaction: false };

const CONSTRAINT = 'audit_events_seq_in_chain';
const TRIGGERS = { insert: 'INSERT', update: 'UPDATE OF seq' } as const;

export async function up(knex: Knex): Promise<void> {
  if (isPostgres(knex)) {
    const existing = await knex.raw<{ rows: unknown[] }>(
      "SELECT 1 FROM pg_constraint WHERE conname = ? AND conrelid = 'audit_events'::regclass",
      [CONSTRAINT],
    );
    if (existing.rows.length === 0) {
      await knex.raw(`ALTER TABLE audit_events ADD CONSTRAINT ${CONSTRAINT} CHECK (seq >= 1) NOT VALID`);
    }
    if (!(await knex('audit_events').where('seq', '<', 1).first('id'))) {
      await knex.raw(`ALTER TABLE audit_events VALIDATE CONSTRAINT ${CONSTRAINT}`);
    }
    return;
  }
  for (const [name, event] of Object.entries(TRIGGERS)) {
    await knex.raw(
      `CREATE TRIGGER IF NOT EXISTS ${CONSTRAINT}_${name} BEFORE ${event} ON audit_events
       WHEN typeof(NEW.seq) <> 'integer' OR NEW.seq < 1
       BEGIN SELECT RAISE(ABORT, 'audit_events.seq must be an integer >= 1'); END`,
    );
  }
}

export async function down(knex: Knex): Promise<void> {
  if (isPostgres(knex)) {
    await knex.raw(`ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS ${CONSTRAINT}`);
    return;
  }
  for (const name of Object.keys(TRIGGERS)) await knex.raw(`DROP TRIGGER IF EXISTS ${CONSTRAINT}_${name}`);
}

const isPostgres = (knex: Knex) => (knex.client as { config: Knex.Config }).config.client === 'pg';
