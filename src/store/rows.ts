// The tables' rows and their mapping to and from the domain, defined once for reads and writes.
import type { StoredAuditEvent } from '../domain/api';
import { fromBase64, toBase64 } from '../domain/crypto';
import { formatInstant } from '../domain/instant';
import type { KeyRecord, LinkedEvent, LogHead, TreeNode } from '../domain/linking';
import { HASH_SIZE, type Hash } from '../domain/merkle';

/** A row of audit_events, as both databases store it. */
export interface EventRow {
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
  /** The salts as JSON text (see the spec's Salts); parsed already where a reader checked them. */
  salts: string | StoredAuditEvent['salts'];
  /** base64, as served. */
  leaf_hash: string;
  /**
   * The commitments of the event's erased fields as JSON text (the spec's ErasedCommitments), or
   * null. Only an erasure writes it: the commit leaves it out, and new rows get NULL. An erased
   * userIdentifier is stored as '' (the schema refuses an empty one, so '' is never a value), an
   * erased tag is removed from `tags`, and their salts from `salts`.
   */
  erased?: string | null;
}

/** The user_identifier of an event whose userIdentifier was erased (a value is never empty). */
export const ERASED_USER_IDENTIFIER = '';

/**
 * audit_events' columns with their PostgreSQL types (the commit binds whole columns as typed
 * arrays), in the order statements bind them. Every column of EventRow, and only those.
 */
export const EVENT_COLUMN_TYPES = {
  id: 'text',
  ims_org_id: 'text',
  seq: 'bigint',
  action: 'text',
  source: 'text',
  service_id: 'text',
  resource_id: 'text',
  user_identifier: 'text',
  occurred_at: 'bigint',
  received_at: 'bigint',
  tags: 'jsonb',
  salts: 'text',
  leaf_hash: 'text',
} as const satisfies Record<Exclude<keyof EventRow, 'erased'>, string>;

export const EVENT_COLUMNS = Object.keys(EVENT_COLUMN_TYPES) as (keyof EventRow)[];

/** Every column a read of whole events selects: what the commit writes, and what an erasure wrote. */
export const READ_COLUMNS: (keyof EventRow)[] = [...EVENT_COLUMNS, 'erased'];

/** A row of idempotency_keys, keyed by key_digest (see idempotencyDigest). */
export interface KeyRow {
  key_digest: string;
  client_id: string;
  key: string;
  request_hash: string;
  /** The stored ids as a JSON array, in input order. */
  event_ids: string;
  expires_at: number | string;
}

/** idempotency_keys' columns with their PostgreSQL types, as EVENT_COLUMN_TYPES. */
export const KEY_COLUMN_TYPES = {
  key_digest: 'text',
  client_id: 'text',
  key: 'text',
  request_hash: 'text',
  event_ids: 'text',
  expires_at: 'bigint',
} as const satisfies Record<keyof KeyRow, string>;

export const KEY_COLUMNS = Object.keys(KEY_COLUMN_TYPES) as (keyof KeyRow)[];

// A PostgreSQL B-tree entry must fit in about 2.7 kB. userIdentifier (512 characters) and
// resourceId (1024) can exceed that in UTF-8, so on PostgreSQL their read indexes are on their
// md5 (migration 20261126000000), and a read matches the md5 first, then the exact value.
export const DIGEST_INDEXED_COLUMNS: ReadonlySet<string> = new Set(['resource_id', 'user_identifier']);

// Both mappings are exhaustive over EventRow and KeyRow: a column added to a row type that
// is not mapped here fails to compile.

/** The row written for a linked event; tags as JSON text, which both databases take. */
export function toRow({ event, occurredAt, receivedAt }: LinkedEvent): EventRow {
  return {
    id: event.id,
    ims_org_id: event.imsOrgId,
    seq: event.seq,
    action: event.action,
    source: event.source,
    service_id: event.service.serviceId,
    resource_id: event.resource.resourceId,
    user_identifier: event.userIdentifier ?? ERASED_USER_IDENTIFIER,
    occurred_at: occurredAt,
    received_at: receivedAt,
    tags: event.tags === undefined ? null : JSON.stringify(event.tags),
    salts: JSON.stringify(event.salts),
    leaf_hash: event.leafHash,
  };
}

/** The served event: an erased field is null, and its commitment is in `erased` (the spec's StoredAuditEvent). */
export function fromRow(row: EventRow): StoredAuditEvent {
  const stored = typeof row.tags === 'string' ? (JSON.parse(row.tags) as Record<string, string>) : row.tags;
  const erased = parseErased(row.erased);
  let tags: Record<string, string | null> | null = stored;
  if (erased?.tags) {
    // fromEntries defines own properties, so a tag named __proto__ is a tag like any other.
    tags = Object.fromEntries([
      ...Object.entries(stored ?? {}),
      ...Object.keys(erased.tags).map((key): [string, null] => [key, null]),
    ]);
  }
  return {
    id: row.id,
    imsOrgId: row.ims_org_id,
    seq: Number(row.seq),
    action: row.action,
    source: row.source,
    service: { serviceId: row.service_id },
    resource: { resourceId: row.resource_id },
    userIdentifier: erased?.userIdentifier === undefined ? row.user_identifier : null,
    timestamp: formatInstant(Number(row.occurred_at)),
    receivedAt: formatInstant(Number(row.received_at)),
    ...(tags !== null && { tags }),
    salts: typeof row.salts === 'string' ? (JSON.parse(row.salts) as StoredAuditEvent['salts']) : row.salts,
    ...(erased && { erased }),
    leafHash: row.leaf_hash,
  };
}

/** A row's erased column, parsed (null and absent: nothing erased). */
export function parseErased(text: string | null | undefined): StoredAuditEvent['erased'] {
  if (text === null || text === undefined) return undefined;
  return JSON.parse(text) as StoredAuditEvent['erased'];
}

export function toKeyRow(record: KeyRecord): KeyRow {
  return {
    key_digest: record.digest,
    client_id: record.clientId,
    key: record.key,
    request_hash: record.requestHash,
    event_ids: JSON.stringify(record.eventIds),
    expires_at: record.expiresAt,
  };
}

export function fromKeyRow(row: KeyRow): KeyRecord {
  return {
    digest: row.key_digest,
    clientId: row.client_id,
    key: row.key,
    requestHash: row.request_hash,
    eventIds: JSON.parse(row.event_ids) as string[],
    expiresAt: Number(row.expires_at),
  };
}

/** A row of audit_log_heads: a tenant's LogHead, hashes in base64 (the frontier's concatenated). */
export interface HeadRow {
  ims_org_id: string;
  seq: number | string;
  root_hash: string;
  frontier: string;
}

export function toHeadRow(imsOrgId: string, head: LogHead): HeadRow {
  return {
    ims_org_id: imsOrgId,
    seq: head.size,
    root_hash: head.rootHash,
    frontier: Buffer.concat(head.frontier.hashes).toString('base64'),
  };
}

export function fromHeadRow(row: Pick<HeadRow, 'seq' | 'root_hash' | 'frontier'>): LogHead {
  const bytes = Buffer.from(row.frontier, 'base64');
  const hashes: Hash[] = [];
  for (let at = 0; at + HASH_SIZE <= bytes.length; at += HASH_SIZE) hashes.push(bytes.subarray(at, at + HASH_SIZE));
  return { size: Number(row.seq), rootHash: row.root_hash, frontier: { size: Number(row.seq), hashes } };
}

/** A row of audit_tree_nodes: a stored tree node above the leaves (see TILE_HEIGHT). */
export interface NodeRow {
  ims_org_id: string;
  level: number;
  idx: number | string;
  hash: string;
}

export const NODE_COLUMN_TYPES = {
  ims_org_id: 'text',
  level: 'integer',
  idx: 'bigint',
  hash: 'text',
} as const satisfies Record<keyof NodeRow, string>;

export const NODE_COLUMNS = Object.keys(NODE_COLUMN_TYPES) as (keyof NodeRow)[];

export function toNodeRow(node: TreeNode): NodeRow {
  return { ims_org_id: node.imsOrgId, level: node.level, idx: node.index, hash: toBase64(node.hash) };
}

/** A stored hash as bytes, or undefined if the text is not one (the database may have been edited). */
export function storedHash(text: unknown): Hash | undefined {
  const bytes = typeof text === 'string' ? fromBase64(text) : undefined;
  return bytes?.length === HASH_SIZE ? bytes : undefined;
}

/** A row's columns in EVENT_COLUMNS order, for statements that bind by position. */
export const eventValues = (row: EventRow): unknown[] => EVENT_COLUMNS.map((column) => row[column]);
export const keyValues = (row: KeyRow): unknown[] => KEY_COLUMNS.map((column) => row[column]);
export const nodeValues = (row: NodeRow): unknown[] => NODE_COLUMNS.map((column) => row[column]);
