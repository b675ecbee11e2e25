import { subscriptionOf } from './subscriptionOf';
import type { Handler } from './types';

export const resumeSubscription: Handler<'resumeSubscription'> = async ({ params, principal }, services) => {
  const { id } = await subscriptionOf(services.subscriptions, params.id, principal);
  await services.subscriptions.resume(id);
  services.deliverer.kick();
  return { status: 200, body: await subscriptionOf(services.subscriptions, id, principal) };
};
