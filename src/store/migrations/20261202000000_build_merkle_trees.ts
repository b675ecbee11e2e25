import { hash } from 'node:crypto';
import type { Knex } from 'knex';
import { canonicalJson } from '../../domain/canonicalJson';
import { toBase64 } from '../../domain/crypto';
import { formatInstant } from '../../domain/instant';
import { eventLeafHash, saltsFor } from '../../domain/leaf';
import { appendLeaf, EMPTY_FRONTIER, type Frontier, frontierRoot, isTileLevel } from '../../domain/merkle';

// Issue #13: each tenant's log becomes a Merkle tree (RFC 9162) and the linear hash chain goes.
// For every tenant, in one transaction: verify the existing chain exactly as the chain's verifier
// did, then give every event salts and its leaf hash (in place of its chain hash), store the tree's
// tile-level nodes and the head's root and frontier. A chain that does not verify stops the
// migration with an error naming the tenant and seq, and the transaction leaves everything as it was.

interface LegacyRow {
  id: string;
  ims_org_id: string;
  seq: number | string;
  action: string;
  source: string;
  service_id: string;
  resource_id: string;
  user_identifier: string;
  occurred_at: number | string;
  received_at: number | string;
  tags: string | Record<string, string> | null;
  leaf_hash: string;
}

const PAGE = 1000;
const GENESIS_HASH = '0'.repeat(64);

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('audit_events', (table) => {
    table.renameColumn('hash', 'leaf_hash');
  });
  await knex.schema.alterTable('audit_events', (table) => {
    table.text('salts');
  });
  await knex.schema.renameTable('audit_chain_heads', 'audit_log_heads');
  await knex.schema.alterTable('audit_log_heads', (table) => {
    table.renameColumn('hash', 'root_hash');
  });
  await knex.schema.alterTable('audit_log_heads', (table) => {
    table.text('frontier').notNullable().defaultTo('');
  });
  await knex.schema.createTable('audit_tree_nodes', (table) => {
    table.text('ims_org_id').notNullable();
    table.integer('level').notNullable();
    table.bigInteger('idx').notNullable();
    table.text('hash').notNullable();
    table.primary(['ims_org_id', 'level', 'idx']);
  });

  const heads = new Map<string, { seq: number; hash: string }>();
  for (const row of await knex('audit_log_heads').select<
    { ims_org_id: string; seq: number | string; root_hash: string }[]
  >()) {
    heads.set(row.ims_org_id, { seq: Number(row.seq), hash: row.root_hash });
  }
  const orgs = await knex('audit_events').distinct<{ ims_org_id: string }[]>('ims_org_id');
  for (const { ims_org_id: org } of orgs) {
    if (!heads.has(org)) fail(org, 1, 'it has events but no chain head');
  }
  for (const [org, head] of heads) await buildTree(knex, org, head);
}

async function buildTree(knex: Knex, org: string, head: { seq: number; hash: string }): Promise<void> {
  const outside = await knex<LegacyRow>('audit_events')
    .where('ims_org_id', org)
    .andWhere((q) => {
      void q.where('seq', '<', 1).orWhere('seq', '>', head.seq);
    })
    .first('id', 'seq');
  if (outside)
    fail(org, Number(outside.seq), `event ${outside.id} has seq ${outside.seq}, outside the chain 1..${head.seq}`);
  let previous = GENESIS_HASH;
  let frontier: Frontier = EMPTY_FRONTIER;
  while (frontier.size < head.seq) {
    const rows = await knex<LegacyRow>('audit_events')
      .where('ims_org_id', org)
      .andWhere('seq', '>', frontier.size)
      .orderBy('seq')
      .limit(PAGE);
    const updates: [string, string, string][] = [];
    const nodes: { ims_org_id: string; level: number; idx: number; hash: string }[] = [];
    for (const row of rows) {
      const seq = Number(row.seq);
      if (seq !== frontier.size + 1) fail(org, frontier.size + 1, `event ${frontier.size + 1} is missing`);
      const tags = typeof row.tags === 'string' ? (JSON.parse(row.tags) as Record<string, string>) : row.tags;
      const event = {
        id: row.id,
        imsOrgId: row.ims_org_id,
        seq,
        action: row.action,
        source: row.source,
        service: { serviceId: row.service_id },
        resource: { resourceId: row.resource_id },
        userIdentifier: row.user_identifier,
        timestamp: formatInstant(Number(row.occurred_at)),
        receivedAt: formatInstant(Number(row.received_at)),
        ...(tags !== null && { tags }),
      };
      if (legacyChainHash(event, previous) !== row.leaf_hash) {
        fail(org, seq, `event ${seq} does not match its chain hash: it was edited, inserted or moved`);
      }
      previous = row.leaf_hash;
      const salts = saltsFor(event.tags);
      const leafHash = eventLeafHash(event, salts);
      updates.push([row.id, leafHash, JSON.stringify(salts)]);
      frontier = appendLeaf(frontier, Buffer.from(leafHash, 'base64'), (node) => {
        if (isTileLevel(node.level))
          nodes.push({ ims_org_id: org, level: node.level, idx: node.index, hash: toBase64(node.hash) });
      });
    }
    if (rows.length === 0) fail(org, frontier.size + 1, `events ${frontier.size + 1} to ${head.seq} are missing`);
    await knex.raw(
      `UPDATE audit_events SET leaf_hash = v.leaf_hash, salts = v.salts
       FROM (SELECT column1 AS id, column2 AS leaf_hash, column3 AS salts FROM (VALUES ${updates.map(() => '(?, ?, ?)').join(', ')}) AS t) AS v
       WHERE audit_events.id = v.id`,
      updates.flat(),
    );
    if (nodes.length > 0) await knex('audit_tree_nodes').insert(nodes);
  }
  if (previous !== head.hash) fail(org, head.seq, `event ${head.seq} is not the recorded chain head`);
  await knex('audit_log_heads')
    .where('ims_org_id', org)
    .update({
      root_hash: toBase64(frontierRoot(frontier)),
      frontier: Buffer.concat(frontier.hashes).toString('base64'),
    });
}

function fail(org: string, seq: number, reason: string): never {
  throw new Error(
    `cannot build the Merkle tree of tenant ${JSON.stringify(org)}: its hash chain does not verify at seq ${seq} (${reason}). ` +
      'Nothing was changed; restore the tenant from a backup or remove the tampered rows, then start again.',
  );
}

/** The chain hash that events carried before this migration (formerly src/domain/chain.ts), kept here to verify them once. */
function legacyChainHash(
  event: {
    id: string;
    imsOrgId: string;
    seq: number;
    action: string;
    source: string;
    service: { serviceId: string };
    resource: { resourceId: string };
    userIdentifier: string;
    timestamp: string;
    receivedAt: string;
    tags?: Record<string, string>;
  },
  prevHash: string,
): string {
  return hash('sha256', canonicalJson({ ...event, prevHash }), 'hex');
}

export function down(): Promise<void> {
  return Promise.reject(new Error('the Merkle tree migration cannot be undone: the chain hashes it replaced are gone'));
}
