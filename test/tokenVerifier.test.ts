import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createTokenVerifier, TokenRejected } from '../src/auth/tokenVerifier';

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
type SigningKey = Parameters<SignJWT['sign']>[0];

const claims = { client_id: 'c', orgs: ['O'], scope: 'audit.write' };

describe('createTokenVerifier', () => {
  let dir: string;
  let jwksFile: string;
  let rsa: KeyPair;
  let ec: KeyPair;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'audit-jwks-'));
    rsa = await generateKeyPair('RS256', { extractable: true });
    ec = await generateKeyPair('ES256', { extractable: true });
    const keys = [
      { ...(await exportJWK(rsa.publicKey)), kid: 'rsa', alg: 'RS256' },
      { ...(await exportJWK(ec.publicKey)), kid: 'ec', alg: 'ES256' },
    ];
    jwksFile = path.join(dir, 'jwks.json');
    await writeFile(jwksFile, JSON.stringify({ keys }));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const sign = (alg: string, kid: string, key: SigningKey, extra: (jwt: SignJWT) => SignJWT = (j) => j) =>
    extra(new SignJWT(claims).setProtectedHeader({ alg, kid }).setIssuedAt().setExpirationTime('5m')).sign(key);

  it('verifies RS256 and ES256 tokens against a local JWKS file', async () => {
    const verify = await createTokenVerifier({ mode: 'jwks-file', jwksFile });
    expect(await verify(await sign('RS256', 'rsa', rsa.privateKey))).to.include({ client_id: 'c' });
    expect(await verify(await sign('ES256', 'ec', ec.privateKey))).to.include({ client_id: 'c' });
  });

  it('refuses algorithm confusion: an HS256 token keyed with the public RSA key', async () => {
    const verify = await createTokenVerifier({ mode: 'jwks-file', jwksFile });
    const publicPem = new TextEncoder().encode(JSON.stringify(await exportJWK(rsa.publicKey)));
    const forged = await sign('HS256', 'rsa', publicPem);
    try {
      await verify(forged);
      expect.fail('forged token verified');
    } catch (error) {
      expect(error).to.be.instanceOf(TokenRejected);
    }
  });

  it('refuses an RS256 token when configured with an HS256 secret', async () => {
    const verify = await createTokenVerifier({ mode: 'secret', secret: 'x'.repeat(32) });
    const error = await verify(await sign('RS256', 'rsa', rsa.privateKey)).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(TokenRejected).with.property('message', 'token algorithm is not accepted');
  });

  it('checks issuer and audience when configured', async () => {
    const secret = 'y'.repeat(32);
    const key = new TextEncoder().encode(secret);
    const verify = await createTokenVerifier({ mode: 'secret', secret, issuer: 'https://idp', audience: 'audit' });
    const good = await sign('HS256', 'k', key, (j) => j.setIssuer('https://idp').setAudience('audit'));
    expect(await verify(good)).to.include({ iss: 'https://idp' });
    const wrongIssuer = await sign('HS256', 'k', key, (j) => j.setIssuer('https://evil').setAudience('audit'));
    const error = await verify(wrongIssuer).catch((e: unknown) => e);
    expect(error)
      .to.be.instanceOf(TokenRejected)
      .with.property('message')
      .that.matches(/claim "iss"/);
  });

  it('allows a little clock skew but not more', async () => {
    const secret = 'z'.repeat(32);
    const key = new TextEncoder().encode(secret);
    const verify = await createTokenVerifier({ mode: 'secret', secret });
    const now = Math.floor(Date.now() / 1000);
    const justExpired = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(now - 10)
      .sign(key);
    expect(await verify(justExpired)).to.include({ client_id: 'c' });
    const longExpired = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(now - 120)
      .sign(key);
    expect(await verify(longExpired).catch((e: unknown) => e)).to.be.instanceOf(TokenRejected);
  });
});
