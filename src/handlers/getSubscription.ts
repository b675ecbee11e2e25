import { subscriptionOf } from './subscriptionOf';
import type { Handler } from './types';

export const getSubscription: Handler<'getSubscription'> = async ({ params, principal }, { subscriptions }) => ({
  status: 200,
  body: await subscriptionOf(subscriptions, params.id, principal),
});
