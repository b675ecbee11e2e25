import { subscriptionOf } from './subscriptionOf';
import type { Handler } from './types';

export const deleteSubscription: Handler<'deleteSubscription'> = async ({ params, principal }, { subscriptions }) => {
  const subscription = await subscriptionOf(subscriptions, params.id, principal);
  await subscriptions.delete(subscription.id);
  return { status: 200, body: subscription };
};
