import { hash } from 'node:crypto';
import type { StoredAuditEvent } from './api';

/** The previous hash of a tenant's first event. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * The event's link in its tenant's chain: SHA-256 (hex) over the RFC 8785 (JCS) canonical JSON
 * of every stored field except `hash` itself, plus `prevHash`. Changing, removing, inserting
 * or reordering any event changes every hash after it.
 */
export function chainHash(event: Omit<StoredAuditEvent, 'hash'>, prevHash: string): string {
  // crypto.hash: one call, no Hash object; for a link this size it costs about half of createHash().update().digest().
  return hash('sha256', canonicalLink(event, prevHash), 'hex');
}

/**
 * canonicalJson of the hashed fields, written out in RFC 8785 key order (a test checks it
 * against canonicalJson). Spelled out because it runs for every stored and verified event.
 */
export function canonicalLink(event: Omit<StoredAuditEvent, 'hash'>, prevHash: string): string {
  const s = JSON.stringify;
  return (
    `{"action":${s(event.action)},"id":${s(event.id)},"imsOrgId":${s(event.imsOrgId)},"prevHash":${s(prevHash)},` +
    `"receivedAt":${s(event.receivedAt)},"resource":{"resourceId":${s(event.resource.resourceId)}},"seq":${event.seq},` +
    `"service":{"serviceId":${s(event.service.serviceId)}},"source":${s(event.source)},` +
    (event.tags === undefined ? '' : `"tags":${canonicalJson(event.tags)},`) +
    `"timestamp":${s(event.timestamp)},"userIdentifier":${s(event.userIdentifier)}}`
  );
}

/**
 * RFC 8785 JSON Canonicalization: object keys sorted by UTF-16 code units, no whitespace,
 * and strings and numbers serialised as ECMAScript's JSON.stringify does (which RFC 8785
 * adopts). Properties whose value is undefined are left out, as in JSON.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  // sort() without a comparator orders strings by UTF-16 code units, as RFC 8785 asks. A loop
  // rather than entries/filter/map: tags are canonicalised for every stored event.
  const record = value as Record<string, unknown>;
  let json = '';
  for (const key of Object.keys(record).sort()) {
    const item = record[key];
    if (item === undefined) continue;
    json += (json === '' ? '{' : ',') + JSON.stringify(key) + ':' + canonicalJson(item);
  }
  return json === '' ? '{}' : json + '}';
}
