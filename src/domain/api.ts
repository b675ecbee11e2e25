// Names for the generated API types that several modules share. Never declare an API type by hand:
// add it to api/openapi.yaml and run `npm run generate`.
import type { components } from '../../generated/openapi';

export type AuditEvent = components['schemas']['AuditEvent'];
export type StoredAuditEvent = components['schemas']['StoredAuditEvent'];
export type ChainVerification = components['schemas']['ChainVerification'];
export type ErrorResponse = components['schemas']['ErrorResponse'];
export type ErrorDetail = components['schemas']['ErrorDetail'];
export type ErrorReason = ErrorResponse['reason'];
export type CloudEvent = components['schemas']['CloudEvent'];
export type OcsfApiActivity = components['schemas']['OcsfApiActivity'];
