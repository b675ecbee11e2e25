import { eventFilter } from './eventFilter';
import type { Handler } from './types';

export const listAuditEvents: Handler<'listAuditEvents'> = async ({ query, principal }, { store, cursors }) => {
  principal.assertCovers(query.imsOrgId);
  const filter = eventFilter(query);
  const after = query.cursor === undefined ? undefined : cursors.decode(query.cursor, filter);
  // The contract applied the spec's default limit.
  const page = await store.list(filter, { limit: query.limit!, after });
  return {
    status: 200,
    body: { items: page.items, nextCursor: page.next ? cursors.encode(page.next, filter) : null },
  };
};
