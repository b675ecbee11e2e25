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
    // key:value, split at the first colon: keys cannot hold one, values can.
    tags: query.tag?.map((tag): [string, string] => {
      const colon = tag.indexOf(':');
      return [tag.slice(0, colon), tag.slice(colon + 1)];
    }),
  };
}

function instant(text: string): number {
  const epochMs = parseInstant(text);
  if (epochMs === undefined) throw new Error(`unvalidated date-time reached a handler: ${text}`);
  return epochMs;
}
