// @audit-service/client: typed calls and the batching logger. Its only dependency is
// openapi-fetch; it imports nothing of the server (a lint rule keeps it so).
import type { components } from './openapi.js';

export { createAuditClient, type AuditClient, type AuditClientOptions } from './client.js';
export type { Credentials, TokenSource } from './credentials.js';
export {
  createAuditLogger,
  type AuditFailure,
  type AuditLogger,
  type AuditLoggerMetrics,
  type AuditLoggerOptions,
  type DropReason,
  type OverflowPolicy,
} from './logger.js';
export type { components, operations, paths } from './openapi.js';
export type AuditEvent = components['schemas']['AuditEvent'];
export type StoredAuditEvent = components['schemas']['StoredAuditEvent'];
export type ErrorResponse = components['schemas']['ErrorResponse'];
