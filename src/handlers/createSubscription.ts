import { AuditError } from '../domain/errors';
import { newWebhookSecret, webhookUrlProblem } from '../domain/webhooks';
import type { Handler } from './types';

export const createSubscription: Handler<'createSubscription'> = async ({ body, principal }, services) => {
  principal.assertCovers(body.imsOrgId);
  const { allowedHosts, allowLoopback } = services.config.webhooks;
  const problem = webhookUrlProblem(body.url, allowedHosts, allowLoopback);
  if (problem) throw new AuditError('bad_request', problem, [{ path: 'body.url', message: problem }]);
  const secret = newWebhookSecret();
  const subscription = await services.subscriptions.create({
    imsOrgId: body.imsOrgId,
    url: body.url,
    format: body.format,
    fromSeq: body.fromSeq ?? 1,
    secret,
  });
  services.deliverer.kick();
  return { status: 201, body: { ...subscription, secret } };
};
