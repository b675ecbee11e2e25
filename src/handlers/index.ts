import type { OperationId } from '../http/contract';
import { createAuditEvent } from './createAuditEvent';
import { createAuditEvents } from './createAuditEvents';
import { createErasure } from './createErasure';
import { getDocs } from './getDocs';
import { getErasure } from './getErasure';
import { getDocsAsset } from './getDocsAsset';
import { getViewer } from './getViewer';
import { getViewerAsset } from './getViewerAsset';
import { createDevToken } from './createDevToken';
import { exportAuditEvents } from './exportAuditEvents';
import { getAuditEvent } from './getAuditEvent';
import { getCheckpoint } from './getCheckpoint';
import { getCheckpointKey } from './getCheckpointKey';
import { getConsistencyProof } from './getConsistencyProof';
import { getInclusionProof } from './getInclusionProof';
import { getLiveness } from './getLiveness';
import { getMetrics } from './getMetrics';
import { getOpenApiJson } from './getOpenApiJson';
import { getOpenApiYaml } from './getOpenApiYaml';
import { getReadiness } from './getReadiness';
import { getRetentionPolicy } from './getRetentionPolicy';
import { putRetentionPolicy } from './putRetentionPolicy';
import { listAuditEvents } from './listAuditEvents';
import { streamAuditEvents } from './streamAuditEvents';
import { createSubscription } from './createSubscription';
import { deleteSubscription } from './deleteSubscription';
import { getSubscription } from './getSubscription';
import { listSubscriptions } from './listSubscriptions';
import { resumeSubscription } from './resumeSubscription';
import type { Handler } from './types';
import { verifyAuditChain } from './verifyAuditChain';

/** One handler per spec operation: an operation without a handler does not compile. */
export const handlers: { [Op in OperationId]: Handler<Op> } = {
  createAuditEvent,
  createAuditEvents,
  getDocs,
  getDocsAsset,
  getViewer,
  getViewerAsset,
  createDevToken,
  getAuditEvent,
  listAuditEvents,
  exportAuditEvents,
  getLiveness,
  getMetrics,
  getOpenApiJson,
  getOpenApiYaml,
  getReadiness,
  verifyAuditChain,
  streamAuditEvents,
  createSubscription,
  listSubscriptions,
  getSubscription,
  deleteSubscription,
  resumeSubscription,
  getCheckpoint,
  getCheckpointKey,
  getInclusionProof,
  getConsistencyProof,
  getRetentionPolicy,
  putRetentionPolicy,
  createErasure,
  getErasure,
};
