import type { Knex } from 'knex';
import * as createAuditEvents from './20261125000000_create_audit_events';
import * as createIdempotencyKeys from './20261125010000_create_idempotency_keys';
import * as addReadIndexes from './20261126000000_add_read_indexes';
import * as createServiceSecrets from './20261126000100_create_service_secrets';
import * as refuseSeqOutsideChain from './20261201000000_refuse_seq_outside_chain';
import * as keyIdempotencyByDigest from './20261201100000_key_idempotency_by_digest';
import * as createWebhookSubscriptions from './20261201200000_create_webhook_subscriptions';
import * as buildMerkleTrees from './20261202000000_build_merkle_trees';
import * as addRetention from './20261203000000_add_retention';
import * as addErasure from './20261204000000_add_erasure';

interface Migration {
  name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
  /** `{ transaction: false }` runs a migration outside a transaction. */
  config?: { transaction?: boolean };
}

/** Every migration, oldest first. Listed statically so they run the same from src, tests and the knex CLI. */
const migrations: Migration[] = [
  { name: '20261125000000_create_audit_events', ...createAuditEvents },
  { name: '20261125010000_create_idempotency_keys', ...createIdempotencyKeys },
  { name: '20261126000000_add_read_indexes', ...addReadIndexes },
  { name: '20261126000100_create_service_secrets', ...createServiceSecrets },
  { name: '20261201000000_refuse_seq_outside_chain', ...refuseSeqOutsideChain },
  { name: '20261201100000_key_idempotency_by_digest', ...keyIdempotencyByDigest },
  { name: '20261201200000_create_webhook_subscriptions', ...createWebhookSubscriptions },
  { name: '20261202000000_build_merkle_trees', ...buildMerkleTrees },
  { name: '20261203000000_add_retention', ...addRetention },
  { name: '20261204000000_add_erasure', ...addErasure },
];

export const migrationSource: Knex.MigrationSource<Migration> = {
  getMigrations: () => Promise.resolve(migrations),
  getMigrationName: (migration) => migration.name,
  getMigration: (migration) => Promise.resolve(migration),
};
