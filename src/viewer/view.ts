// What the reader is looking at, kept in the URL's fragment so that a view can be shared and
// the browser's Back and Forward work: the tenant, the filters, the page (its keyset cursor and
// the cursors of the pages before it) and the open event. Never the token.

export const FILTER_NAMES = ['action', 'source', 'serviceId', 'resourceId', 'userIdentifier', 'from', 'to'] as const;
export type FilterName = (typeof FILTER_NAMES)[number];

export interface Filters {
  action?: string;
  source?: string;
  serviceId?: string;
  resourceId?: string;
  userIdentifier?: string;
  /** RFC 3339, inclusive. */
  from?: string;
  /** RFC 3339, exclusive. */
  to?: string;
  /** `key:value`, the list operation's syntax (a `:` in the key written `\:`). */
  tags: string[];
}

export interface View {
  org: string;
  filters: Filters;
  /** The current page's cursor; undefined on the first page. */
  cursor?: string;
  /** The cursors of the pages before this one, oldest first ('' for the first page). */
  back: string[];
  /** The event whose detail panel is open. */
  event?: string;
}

export const emptyView = (org = ''): View => ({
  org,
  filters: { tags: [] },
  cursor: undefined,
  back: [],
  event: undefined,
});

export function parseView(hash: string): View {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const filters: Filters = { tags: params.getAll('tag').filter(Boolean) };
  for (const name of FILTER_NAMES) {
    const value = params.get(name);
    if (value) filters[name] = value;
  }
  return {
    org: params.get('org') ?? '',
    filters,
    cursor: params.get('cursor') || undefined,
    back: params.getAll('back'),
    event: params.get('event') || undefined,
  };
}

export function formatView(view: View): string {
  const params = new URLSearchParams();
  if (view.org) params.set('org', view.org);
  for (const name of FILTER_NAMES) {
    const value = view.filters[name];
    if (value) params.set(name, value);
  }
  for (const tag of view.filters.tags) params.append('tag', tag);
  for (const cursor of view.back) params.append('back', cursor);
  if (view.cursor) params.set('cursor', view.cursor);
  if (view.event) params.set('event', view.event);
  return `#${params.toString()}`;
}

/** The list and export operations' query for a tenant and its filters. */
export function filterQuery(org: string, filters: Filters): URLSearchParams {
  const query = new URLSearchParams({ imsOrgId: org });
  for (const name of FILTER_NAMES) {
    const value = filters[name];
    if (value) query.set(name, value);
  }
  for (const tag of filters.tags) query.append('tag', tag);
  return query;
}

/** Splits a `key:value` tag filter at its first unescaped colon, as the server does. */
function splitTag(tag: string): [key: string, value: string] | undefined {
  let key = '';
  for (let i = 0; i < tag.length; i++) {
    const char = tag[i];
    if (char === '\\' && (tag[i + 1] === ':' || tag[i + 1] === '\\')) {
      key += tag[++i];
    } else if (char === ':') {
      return [key, tag.slice(i + 1)];
    } else {
      key += char;
    }
  }
  return undefined;
}

interface Filterable {
  action: string;
  source: string;
  service: { serviceId: string };
  resource: { resourceId: string };
  userIdentifier?: string | null;
  timestamp: string;
  /** An erased tag's value is null. */
  tags?: Record<string, string | null> | null;
}

/** Whether an event (one from the live stream, which has no filters) matches the filters. */
export function matches(event: Filterable, filters: Filters): boolean {
  if (filters.action && event.action !== filters.action) return false;
  if (filters.source && event.source !== filters.source) return false;
  if (filters.serviceId && event.service.serviceId !== filters.serviceId) return false;
  if (filters.resourceId && event.resource.resourceId !== filters.resourceId) return false;
  if (filters.userIdentifier && event.userIdentifier !== filters.userIdentifier) return false;
  const time = Date.parse(event.timestamp);
  if (filters.from && !(time >= Date.parse(filters.from))) return false;
  if (filters.to && !(time < Date.parse(filters.to))) return false;
  for (const tag of filters.tags) {
    const split = splitTag(tag);
    if (!split || event.tags?.[split[0]] !== split[1]) return false;
  }
  return true;
}
