// What the viewer says when a request is refused: in words a person would want, from the status
// and the body the spec documents for it (a JSON string for 401, an ErrorResponse otherwise).
import type { components } from '../client/index';

type ErrorResponse = components['schemas']['ErrorResponse'];

/** How a failure should be handled: sign in again, ask for other rights, or just say what happened. */
export type FailureKind = 'unauthorized' | 'forbidden' | 'busy' | 'unreachable' | 'other';

export class ApiError extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** A person's sentence for a refused request, from its status and the body the spec documents. */
export function describeFailure(status: number, body: unknown): ApiError {
  const problem = (body ?? {}) as Partial<ErrorResponse>;
  const message = typeof body === 'string' ? body : typeof problem.message === 'string' ? problem.message : '';
  if (status === 401) {
    return new ApiError(
      'unauthorized',
      `Your sign-in was not accepted${message ? ` (${message})` : ''}. Please sign in again.`,
      status,
    );
  }
  if (status === 403) {
    const scope = /lacks scope (\S+)/.exec(message)?.[1];
    const org = /does not cover imsOrgId ("(?:[^"\\]|\\.)*")/.exec(message)?.[1];
    const what = scope
      ? `Your token lacks the scope ${scope}, which this needs.`
      : org
        ? `Your token does not cover the tenant ${JSON.parse(org) as string}.`
        : `Your token does not allow this${message ? ` (${message})` : ''}.`;
    return new ApiError('forbidden', `${what} Ask for a token that has it, or pick another tenant.`, status);
  }
  if (status === 503) {
    return new ApiError(
      'busy',
      'The service is busy and did not answer after several tries. Try again shortly.',
      status,
    );
  }
  const details = (problem.details ?? []).map((detail) => `${detail.path ? `${detail.path} ` : ''}${detail.message}`);
  const text = details.length > 0 ? details.join('; ') : message || `HTTP ${status}`;
  return new ApiError('other', status === 400 ? `The service refused the request: ${text}` : text, status);
}
