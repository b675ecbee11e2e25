import type { CloudEvent, OcsfApiActivity, StoredAuditEvent } from './api';

// The mappings below are documented in api/openapi.yaml (schemas CloudEvent and OcsfApiActivity).

export const CLOUDEVENT_TYPE = 'com.adobe.audit.event.v1';

/** The CloudEvents `source` of a tenant's events: a URI reference that names its log. */
export function cloudEventSource(imsOrgId: string): string {
  return `/audits/${encodeURIComponent(imsOrgId)}`;
}

/** A stored event as a CloudEvents 1.0 event in structured JSON mode; `data` is the event unchanged. */
export function toCloudEvent(event: StoredAuditEvent): CloudEvent {
  return {
    specversion: '1.0',
    id: event.id,
    source: cloudEventSource(event.imsOrgId),
    type: CLOUDEVENT_TYPE,
    subject: event.resource.resourceId,
    time: event.timestamp,
    seq: event.seq,
    datacontenttype: 'application/json',
    data: event,
  };
}

const OCSF_ACTIVITIES: Record<string, { id: 1 | 2 | 3 | 4; name: string }> = {
  create: { id: 1, name: 'Create' },
  read: { id: 2, name: 'Read' },
  update: { id: 3, name: 'Update' },
  delete: { id: 4, name: 'Delete' },
};

/** A stored event as an OCSF 1.3 API Activity (class 6003). */
export function toOcsf(event: StoredAuditEvent): OcsfApiActivity {
  const activity = OCSF_ACTIVITIES[event.action.toLowerCase()] ?? { id: 99 as const, name: event.action };
  return {
    class_uid: 6003,
    class_name: 'API Activity',
    category_uid: 6,
    category_name: 'Application Activity',
    activity_id: activity.id,
    activity_name: activity.name,
    type_uid: 600300 + activity.id,
    severity_id: 1,
    severity: 'Informational',
    status_id: 0,
    time: Date.parse(event.timestamp),
    metadata: {
      version: '1.3.0',
      product: { name: 'Audit Service', vendor_name: 'Adobe' },
      uid: event.id,
      tenant_uid: event.imsOrgId,
      sequence: event.seq,
      logged_time: Date.parse(event.receivedAt),
      original_time: event.timestamp,
    },
    actor: { user: { uid: event.userIdentifier, name: event.userIdentifier } },
    api: { operation: event.action, service: { name: event.service.serviceId } },
    src_endpoint: { svc_name: event.source },
    resources: [{ uid: event.resource.resourceId }],
    unmapped: { ...(event.tags && { tags: event.tags }), leafHash: event.leafHash },
  };
}

/** The event formats a push subscription can deliver, by name (the spec's `format`). */
export const EVENT_MAPPINGS = {
  json: (event: StoredAuditEvent): unknown => event,
  cloudevents: toCloudEvent,
  ocsf: toOcsf,
} as const;
