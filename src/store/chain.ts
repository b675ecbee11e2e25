import { createHash } from 'node:crypto';
import type { StoredAuditEvent } from '../api';


/** The previous hash of a tenant's first event. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * The event's link in its tenant's chain: SHA-256 (hex) over the RFC 8785 (JCS) canonical JSON
 * of every stored field except `hash` itself, plus `prevHash`. Changing, removing, inserting
 * or reordering any event changes every hash after it.
 */
export function chainHash(event: Omit<StoredAuditEvent, 'hash'>, prevHash: string): string {
  const { id, seq, imsOrgId, receivedAt, timestamp, action, source, service, resource, userIdentifier, tags } = event;
  const linked = { id, seq, imsOrgId, receivedAt, timestamp, action, source, service, resource, userIdentifier, tags, prevHash };
  return createHash('sha256').update(canonicalJson(linked)).digest('hex');
}

/**
 * RFC 8785 JSON Canonicalization: object keys sorted by UTF-16 code units, no whitespace,
 * and strings and numbers serialised as ECMAScript's JSON.stringify does (which RFC 8785
 * adopts). Properties whose value is undefined are left out, as in JSON.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value)
    .filter(([, item]) => item !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}
