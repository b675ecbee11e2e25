import { isIP } from 'node:net';
import type { AuthConfig } from '../config';
import { loadOrCreateDevSecret } from './devSecret';
import { mintToken } from './mintToken';

/** What the viewer's "Sign in as developer" gets (the spec's DevToken). */
export interface DevToken {
  clientId: string;
  token: string;
  orgs: '*';
  scope: string;
  expiresAt: string;
}

export type DevSignIn = () => Promise<DevToken>;

/** The dev token's client id, tenants, scope and lifetime: read-only, every tenant, 15 minutes. */
export const DEV_TOKEN = { clientId: 'dev-viewer', orgs: '*', scope: 'audit.read', expiresInSeconds: 15 * 60 } as const;

/**
 * The one place the service mints a token (POST /dev/token), and only in dev mode: with any
 * AUTH_* variable set this is undefined and the route is not mounted at all. The token is signed
 * with the dev-mode secret the verifier uses, so it works on every /audits read.
 */
export function createDevSignIn(auth: AuthConfig): DevSignIn | undefined {
  if (auth.mode !== 'dev') return undefined;
  const secret = loadOrCreateDevSecret(auth.secretFile);
  return async () => {
    const expiresAt = new Date((Math.floor(Date.now() / 1000) + DEV_TOKEN.expiresInSeconds) * 1000);
    const token = await mintToken({
      secret,
      clientId: DEV_TOKEN.clientId,
      orgs: DEV_TOKEN.orgs,
      scope: DEV_TOKEN.scope,
      expiresIn: DEV_TOKEN.expiresInSeconds,
      issuer: auth.issuer,
      audience: auth.audience,
    });
    const { clientId, orgs, scope } = DEV_TOKEN;
    return { clientId, token, orgs, scope, expiresAt: expiresAt.toISOString() };
  };
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Whether a request comes from this machine and names this machine: a loopback peer address
 * (127.0.0.0/8, ::1, or an IPv4-mapped 127.x) and a Host of a loopback name, any port. The Host
 * check refuses a page of another site whose name was made to resolve to 127.0.0.1 (DNS
 * rebinding), which the browser would otherwise treat as same-origin.
 */
export function isLoopbackRequest(remoteAddress: string | undefined, host: string | undefined): boolean {
  if (!remoteAddress || !host) return false;
  const peer = remoteAddress.replace(/^::ffff:/i, '');
  const loopbackPeer = peer === '::1' || (isIP(peer) === 4 && peer.startsWith('127.'));
  const name = host.toLowerCase().replace(/:\d+$/, '');
  return loopbackPeer && LOOPBACK_NAMES.has(name);
}
