// @audit-service/client: typed calls, the batching logger, and the checks that verify the log
// (leaf hashes, signed checkpoints, proofs). Its dependencies are openapi-fetch, @noble/hashes and
// @noble/curves; it imports nothing of the server (a lint rule keeps it so).
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
export {
  createTreeBuilder,
  leafHashOf,
  originIsForTenant,
  parseVerifierKey,
  rootFromLeafHashes,
  verifyCheckpoint,
  verifyConsistency,
  verifyEventInclusion,
  verifyInclusion,
  verifyNote,
  VerificationError,
  type Checkpoint,
  type TreeBuilder,
  type VerifiedInclusion,
  type VerifiedNote,
  type VerifierKey,
} from './verify.js';
export type AuditEvent = components['schemas']['AuditEvent'];
export type StoredAuditEvent = components['schemas']['StoredAuditEvent'];
export type ErrorResponse = components['schemas']['ErrorResponse'];
export type InclusionProof = components['schemas']['InclusionProof'];
export type ConsistencyProof = components['schemas']['ConsistencyProof'];
export type ProvenAuditEvent = components['schemas']['ProvenAuditEvent'];
