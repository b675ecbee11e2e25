import { parseInstant } from '../domain/instant';
import type { EventFilter } from '../domain/filter';
import type { HandlerInput } from './types';

type FilterQuery = HandlerInput<'listAuditEvents'>['query'] | HandlerInput<'exportAuditEvents'>['query'];

/** The store filter that a list or export query names. The contract has validated every value. */
export function eventFilter(query: FilterQuery): EventFilter {
  return {
    imsOrgId: query.imsOrgId,
    action: query.action,
    source: query.source,
    serviceId: query.serviceId,
    resourceId: query.resourceId,
    userIdentifier: query.userIdentifier,
    from: query.from === undefined ? undefined : instant(query.from),
    to: query.to === undefined ? undefined : instant(query.to),
    tags: query.tag?.map(parseTagFilter),
  };
}

/**
 * `key:value`, split at the first unescaped colon: in the key, `\:` stands for `:` and `\\` for
 * `\` (any other backslash is itself), so that every key can be named; the value is taken as is.
 */
export function parseTagFilter(tag: string): [string, string] {
  let key = '';
  for (let i = 0; i < tag.length; i++) {
    const char = tag[i];
    if (char === ':') return [key, tag.slice(i + 1)];
    const next = tag[i + 1];
    if (char === '\\' && (next === ':' || next === '\\')) {
      key += next;
      i++;
    } else {
      key += char;
    }
  }
  throw new Error(`unvalidated tag filter reached a handler: no unescaped colon in ${JSON.stringify(tag)}`);
}

function instant(text: string): number {
  const epochMs = parseInstant(text);
  if (epochMs === undefined) throw new Error(`unvalidated date-time reached a handler: ${text}`);
  return epochMs;
}
