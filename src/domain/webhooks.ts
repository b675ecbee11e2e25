import { createHmac, randomBytes } from 'node:crypto';

/** A new Standard Webhooks signing secret: `whsec_` and base64 of 24 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/**
 * The Standard Webhooks headers for one delivery: HMAC-SHA256 over `id.timestamp.body`, keyed
 * with the secret's bytes (the base64 after `whsec_`).
 */
export function signWebhook(secret: string, id: string, timestampSeconds: number, body: string) {
  const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
  const signature = createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': `v1,${signature}`,
  };
}

/** The deterministic id of the batch (firstSeq..lastSeq) of a subscription: a retry repeats it. */
export function webhookId(subscriptionId: string, firstSeq: number, lastSeq: number): string {
  return `${subscriptionId}:${firstSeq}-${lastSeq}`;
}

/**
 * The wait before the next attempt after `attempts` failures in a row: exponential from
 * `minMs`, capped at `maxMs`, each 50-100% of its step (jitter, so receivers coming back are
 * not hit by every sender at once); at least what the receiver's Retry-After asks, up to an hour.
 */
export function retryDelayMs(
  attempts: number,
  { minMs, maxMs }: { minMs: number; maxMs: number },
  retryAfterMs: number | undefined,
  random = Math.random,
): number {
  const step = Math.min(maxMs, minMs * 2 ** Math.min(attempts - 1, 40));
  const jittered = step / 2 + (random() * step) / 2;
  return Math.round(Math.max(jittered, Math.min(retryAfterMs ?? 0, 3600_000)));
}

/** A Retry-After header (seconds, or an HTTP date) in ms from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Whether a webhook may go to `url`: http or https, no user information, a host on the allow
 * list (exact, or `*.suffix` for subdomains) or, when `allowLoopback`, a loopback host.
 * Answers the problem, or undefined when allowed.
 */
export function webhookUrlProblem(
  url: string,
  allowedHosts: readonly string[],
  allowLoopback: boolean,
): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'url is not an absolute URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    return `url must use http or https, not ${parsed.protocol.slice(0, -1)}`;
  if (parsed.username || parsed.password) return 'url must not contain user information';
  const host = parsed.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (allowLoopback && isLoopback(host)) return undefined;
  const allowed = allowedHosts.some((pattern) =>
    pattern.startsWith('*.') ? host.endsWith(pattern.slice(1)) : host === pattern,
  );
  return allowed ? undefined : `url host ${host} is not in WEBHOOK_ALLOWED_HOSTS`;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
