import { readFile } from 'node:fs/promises';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyOptions,
} from 'jose';
import type { AuthConfig } from '../config';
import { UnavailableError } from '../domain/errors';
import { loadOrCreateDevSecret } from './devSecret';

export type TokenVerifier = (token: string) => Promise<JWTPayload>;

/** Allowed clock difference between the token issuer and this server. */
const CLOCK_TOLERANCE_SECONDS = 30;
/** Symmetric and asymmetric algorithms are never mixed, which rules out algorithm confusion. */
const ASYMMETRIC_ALGORITHMS = ['RS256', 'ES256'];

export class TokenRejected extends Error {}

export async function createTokenVerifier(auth: AuthConfig): Promise<TokenVerifier> {
  const options: JWTVerifyOptions = {
    issuer: auth.issuer,
    audience: auth.audience,
    requiredClaims: ['exp'],
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
  };
  let verify: (token: string) => Promise<{ payload: JWTPayload }>;
  switch (auth.mode) {
    case 'secret':
    case 'dev': {
      const secret = new TextEncoder().encode(
        auth.mode === 'secret' ? auth.secret : loadOrCreateDevSecret(auth.secretFile),
      );
      verify = (token) => jwtVerify(token, secret, { ...options, algorithms: ['HS256'] });
      break;
    }
    case 'jwks-file': {
      const keys = createLocalJWKSet(JSON.parse(await readFile(auth.jwksFile, 'utf8')) as JSONWebKeySet);
      verify = (token) => jwtVerify(token, keys, { ...options, algorithms: ASYMMETRIC_ALGORITHMS });
      break;
    }
    case 'jwks-url': {
      // jose caches the key set and refetches it (rate-limited) when a token names an unknown kid.
      const keys = createRemoteJWKSet(auth.jwksUrl, { cacheMaxAge: 10 * 60_000, timeoutDuration: 5000 });
      verify = (token) => jwtVerify(token, keys, { ...options, algorithms: ASYMMETRIC_ALGORITHMS });
      break;
    }
  }
  const verified = new VerifiedTokenCache();
  return async (token) => {
    const cached = verified.get(token);
    if (cached) return cached;
    try {
      const { payload } = await verify(token);
      verified.set(token, payload);
      return payload;
    } catch (error) {
      // A key set we cannot fetch is our outage, not the client's bad token.
      if (error instanceof errors.JWKSTimeout || !(error instanceof errors.JOSEError)) {
        throw new UnavailableError('token keys are unavailable; retry later', { retryAfterSeconds: 5 });
      }
      throw new TokenRejected(describeJoseError(error));
    }
  };
}

/**
 * Tokens already verified, so the signature of a token a client reuses for many requests is
 * checked once. The key is the whole token, signature included, so only the very same token
 * hits; an entry lasts until the token expires (with the skew allowance) but at most a few
 * minutes, so a key withdrawn from the JWKS stops being honoured soon.
 */
class VerifiedTokenCache {
  private static readonly MAX_ENTRIES = 10_000;
  private static readonly MAX_AGE_MS = 5 * 60_000;
  private readonly entries = new Map<string, { payload: JWTPayload; validUntil: number }>();

  get(token: string): JWTPayload | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    if (Date.now() < entry.validUntil) return entry.payload;
    this.entries.delete(token);
    return undefined;
  }

  set(token: string, payload: JWTPayload): void {
    const expires = (payload.exp! + CLOCK_TOLERANCE_SECONDS) * 1000;
    if (this.entries.size >= VerifiedTokenCache.MAX_ENTRIES) {
      // Maps iterate in insertion order: drop the oldest entry.
      this.entries.delete(this.entries.keys().next().value!);
    }
    this.entries.set(token, { payload, validUntil: Math.min(expires, Date.now() + VerifiedTokenCache.MAX_AGE_MS) });
  }
}

function describeJoseError(error: errors.JOSEError): string {
  if (error instanceof errors.JWTExpired) return 'token has expired';
  if (error instanceof errors.JWTClaimValidationFailed)
    return `token claim "${error.claim}" is invalid: ${error.reason}`;
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'token signature does not verify';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'token algorithm is not accepted';
  if (error instanceof errors.JWKSNoMatchingKey) return 'token is signed with an unknown key';
  if (error instanceof errors.JOSENotSupported) return 'token algorithm is not supported';
  return 'token is malformed';
}
