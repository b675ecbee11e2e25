import type { Principal } from '../auth/principal';
import { AuditError } from '../domain/errors';
import type { Subscription, SubscriptionStore } from '../store/subscriptions';

/** The subscription, if the token covers its tenant; another tenant's is as absent as an unknown one (404). */
export async function subscriptionOf(
  subscriptions: SubscriptionStore,
  id: string,
  principal: Principal,
): Promise<Subscription> {
  const subscription = await subscriptions.get(id);
  if (!subscription || !principal.covers(subscription.imsOrgId)) {
    throw new AuditError('not_found', `subscription ${JSON.stringify(id)} not found`);
  }
  return subscription;
}
