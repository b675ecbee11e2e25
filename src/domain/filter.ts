/** What a read selects: one tenant's events, narrowed by every filter that is set (all must match). */
export interface EventFilter {
  imsOrgId: string;
  action?: string;
  source?: string;
  serviceId?: string;
  resourceId?: string;
  userIdentifier?: string;
  /** Epoch milliseconds, inclusive. */
  from?: number;
  /** Epoch milliseconds, exclusive. */
  to?: number;
  /** [key, value] pairs that must each be among the event's tags. */
  tags?: [string, string][];
}

/** A place in a tenant's events in (occurred_at, id) order: where a page ended. */
export interface Position {
  occurredAt: number;
  id: string;
}
