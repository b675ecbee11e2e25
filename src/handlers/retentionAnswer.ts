import type { components } from '../../generated/openapi';
import type { Config } from '../config';
import type { PolicyState } from '../store/retention';

/** The spec's RetentionPolicyState: the tenant's own policy, else the configured default. */
export function retentionAnswer(
  { policy, prunedThrough }: PolicyState,
  config: Pick<Config, 'retention'>,
): components['schemas']['RetentionPolicyState'] {
  if (policy) return { ...policy, inherited: false, prunedThrough };
  return { retention: config.retention.default?.text ?? null, legalHold: false, inherited: true, prunedThrough };
}
