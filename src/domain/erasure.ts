// Erasure (#14): what an event's row becomes once a data subject's personal data is erased. The
// userIdentifier and every value under a personal-data tag key lose their value and salt; their
// commitments SHA-256(salt || value), which the leaf hash holds, move to `erased`. The leaf hash is
// therefore unchanged, and recomputable from what is served (src/domain/leaf.ts commitmentsOf).
import type { Erased, StoredSalts } from './leaf';
import { commitment } from './leaf';

/** The personal-data parts of a stored event, as an erasure reads them. */
export interface ErasableEvent {
  userIdentifier: string;
  /** The stored tags (erased ones already removed), or null. */
  tags: Record<string, string> | null;
  salts: StoredSalts;
  erased: Erased | undefined;
}

/** The same parts once erased: the userIdentifier is stored as '' (see rows.ts ERASED_USER_IDENTIFIER). */
export interface ErasedEvent {
  tags: Record<string, string> | null;
  salts: StoredSalts;
  erased: Erased;
}

/**
 * Erases the event's userIdentifier and its tags under `personalTagKeys`. Throws if a value to
 * erase has no salt (the row was edited: its commitment cannot be known, and the caller must
 * not guess one).
 */
export function eraseEvent(event: ErasableEvent, personalTagKeys: ReadonlySet<string>): ErasedEvent {
  const userSalt = event.salts.userIdentifier;
  if (typeof userSalt !== 'string') throw new Error('the userIdentifier has no salt');
  // Entries, then fromEntries (own properties), so that a tag named __proto__ is a tag like any other.
  const erasedTags: [string, string][] = Object.entries(event.erased?.tags ?? {});
  const keptTags: [string, string][] = [];
  const keptSalts: [string, string][] = [];
  for (const [key, value] of Object.entries(event.tags ?? {})) {
    const salt = event.salts.tags && Object.hasOwn(event.salts.tags, key) ? event.salts.tags[key] : undefined;
    if (personalTagKeys.has(key)) {
      if (typeof salt !== 'string') throw new Error(`tag ${JSON.stringify(key)} has no salt`);
      erasedTags.push([key, commitment(salt, value)]);
    } else {
      keptTags.push([key, value]);
      if (salt !== undefined) keptSalts.push([key, salt]);
    }
  }
  const erased: Erased = {
    userIdentifier: commitment(userSalt, event.userIdentifier),
    ...(erasedTags.length > 0 && { tags: Object.fromEntries(erasedTags) }),
  };
  return {
    tags: event.tags === null ? null : Object.fromEntries(keptTags),
    salts: event.salts.tags === undefined ? {} : { tags: Object.fromEntries(keptSalts) },
    erased,
  };
}
