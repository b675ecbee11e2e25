// What a verification checks of one stored event row at its place in the log: its seq, the one
// form the writer stores, and that its values still give its leaf hash. The main thread's walk
// (LogStore.verify) and the SQLite verify threads (verifyThread.ts) run this same check.
import { canonicalJson } from '../domain/canonicalJson';
import { type Erased, eventLeafHash, type StoredSalts } from '../domain/leaf';
import type { Hash } from '../domain/merkle';
import { ERASED_USER_IDENTIFIER, type EventRow, fromRow, storedHash } from './rows';

/**
 * A row's leaf hash (and whether erasure took personal data from it), or where and why it breaks
 * the log (`counted`: it held its place, so the walk counts it).
 */
export type RowVerdict = { leaf: Hash; erased: boolean } | { brokenAt: number; reason: string; counted: boolean };

/** The verdict on `row`, read where the event with seq `want` belongs. */
export function checkRow(row: EventRow, want: number, postgres: boolean): RowVerdict {
  const seq = logSeq(row.seq, postgres);
  if (seq === undefined) {
    return {
      brokenAt: want,
      reason: `event ${row.id} has seq ${describeSeq(row.seq)}, which is no place in the log`,
      counted: false,
    };
  }
  if (seq !== want) {
    const reason =
      seq > want ? `event ${want} is missing: the log jumps to ${seq}` : `event ${row.id} repeats seq ${seq}`;
    return { brokenAt: want, reason, counted: false };
  }
  const form = storedForm(row, postgres);
  if (typeof form === 'string') {
    return { brokenAt: seq, reason: `event ${seq} (${row.id}) ${form}: it was edited`, counted: true };
  }
  // The tags and salts as already parsed (parsing each twice measured a tenth of the time).
  const event = fromRow({ ...row, tags: form.tags, salts: form.salts });
  let recomputed: string | undefined;
  try {
    recomputed = eventLeafHash(event, event.salts, event.erased);
  } catch {
    recomputed = undefined;
  }
  const leaf = storedHash(row.leaf_hash);
  if (recomputed === undefined || recomputed !== row.leaf_hash || !leaf) {
    return {
      brokenAt: seq,
      reason: `event ${seq} (${row.id}) does not match its leaf hash: it was edited`,
      counted: true,
    };
  }
  return { leaf, erased: event.erased !== undefined };
}

/** A stored seq as a log position: an integer, or undefined (SQLite can hold text, reals, blobs). */
export function logSeq(value: unknown, postgres: boolean): number | undefined {
  // pg answers bigint as text; the column holds integers only.
  if (postgres && typeof value === 'string') return Number(value);
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : undefined;
}

/** A stored seq or instant for a message: numbers as they are, anything else quoted. */
export function describeSeq(value: unknown): string {
  return typeof value === 'number' ? String(value) : JSON.stringify(String(value)).slice(0, 40);
}

/**
 * The row's tags and salts, parsed, or what in the row is not the one form the writer stores
 * for the event it reads as, where reading would hide the difference from the hash: a
 * seq-like instant that is not an integer (read as the same millisecond), tags text that is
 * not what the writer writes for the tags it parses to (a duplicate key parses to one, but
 * json_each, which tag filters use, sees both), or salts that are not the writer's JSON; and
 * for an erased event (#14), commitments that are not an object of base64 hashes, or an erased
 * field whose value is still stored (which the served form, null, would hide).
 */
function storedForm(
  row: EventRow,
  postgres: boolean,
): { tags: Record<string, string> | null; salts: StoredSalts } | string {
  for (const column of ['occurred_at', 'received_at'] as const) {
    if (logSeq(row[column], postgres) === undefined) return `stores ${column} as ${describeSeq(row[column])}`;
  }
  const salts = typeof row.salts === 'string' ? parseJson(row.salts) : row.salts;
  if (!isSalts(salts)) return 'stores salts that are not an object of base64 salts';
  let erased: Erased | undefined;
  if (row.erased !== null && row.erased !== undefined) {
    const parsed = parseJson(row.erased);
    if (!isErased(parsed)) return 'stores erased commitments that are not an object of base64 hashes';
    erased = parsed;
    if (erased.userIdentifier !== undefined && row.user_identifier !== ERASED_USER_IDENTIFIER) {
      return 'stores a userIdentifier it says was erased';
    }
  }
  if (row.tags === null) return { tags: null, salts };
  const text = typeof row.tags === 'string' ? row.tags : undefined;
  const tags: unknown = text === undefined ? row.tags : parseJson(text);
  if (tags === undefined) return 'stores tags that are not JSON';
  const isStringMap =
    tags !== null &&
    typeof tags === 'object' &&
    !Array.isArray(tags) &&
    Object.values(tags).every((value) => typeof value === 'string');
  if (!isStringMap) return 'stores tags that are not an object of strings';
  if (erased?.tags && Object.keys(erased.tags).some((key) => Object.hasOwn(tags, key))) {
    return 'stores a tag value it says was erased';
  }
  if (text !== undefined && text !== JSON.stringify(tags) && text !== canonicalJson(tags)) {
    return 'stores tags in a form other than the one its hash covers';
  }
  return { tags: tags as Record<string, string>, salts };
}

function parseJson(text: unknown): unknown {
  if (typeof text !== 'string') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function isSalts(value: unknown): value is StoredSalts {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const { userIdentifier, tags, ...rest } = value as Record<string, unknown>;
  // An erased userIdentifier has no salt any more.
  if ((userIdentifier !== undefined && typeof userIdentifier !== 'string') || Object.keys(rest).length > 0)
    return false;
  if (tags === undefined) return true;
  return (
    tags !== null &&
    typeof tags === 'object' &&
    !Array.isArray(tags) &&
    Object.values(tags).every((s) => typeof s === 'string')
  );
}

const HASH_BASE64 = /^[A-Za-z0-9+/]{43}=$/;

function isErased(value: unknown): value is Erased {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const { userIdentifier, tags, ...rest } = value as Record<string, unknown>;
  if (Object.keys(rest).length > 0) return false;
  if (userIdentifier !== undefined && (typeof userIdentifier !== 'string' || !HASH_BASE64.test(userIdentifier))) {
    return false;
  }
  if (tags === undefined) return true;
  return (
    tags !== null &&
    typeof tags === 'object' &&
    !Array.isArray(tags) &&
    Object.values(tags).every((hash) => typeof hash === 'string' && HASH_BASE64.test(hash))
  );
}
