// Mints a bearer token signed with the server's HS256 secret (AUTH_JWT_SECRET, or the dev secret).
//   npm run token -- --client ID --org ORG [--org ORG2] [--scope "audit.write audit.read"] [--ttl SECONDS]
import { parseArgs } from 'node:util';
import { loadOrCreateDevSecret } from '../src/auth/devSecret';
import { mintToken } from '../src/auth/mintToken';
import { loadConfig } from '../src/config';

const { values } = parseArgs({
  options: {
    client: { type: 'string' },
    org: { type: 'string', multiple: true },
    scope: { type: 'string', default: 'audit.write audit.read' },
    ttl: { type: 'string', default: '3600' },
  },
});
if (!values.client || !values.org?.length) {
  console.error(
    'usage: npm run token -- --client ID --org ORG [--org ORG2|*] [--scope "audit.write audit.read"] [--ttl SECONDS]',
  );
  process.exit(2);
}
if (!/^\d+$/.test(values.ttl) || Number(values.ttl) < 1) {
  console.error(`--ttl must be a whole number of seconds, got "${values.ttl}"`);
  process.exit(2);
}
const { auth } = loadConfig();
if (auth.mode !== 'secret' && auth.mode !== 'dev') {
  console.error('npm run token signs with an HS256 secret; with AUTH_JWKS_* configured, tokens come from your issuer');
  process.exit(2);
}
const secret = auth.mode === 'secret' ? auth.secret : loadOrCreateDevSecret(auth.secretFile);
const orgs = values.org.includes('*') ? '*' : values.org;
console.log(
  await mintToken({
    secret,
    clientId: values.client,
    orgs,
    scope: values.scope,
    expiresIn: Number(values.ttl),
    issuer: auth.issuer,
    audience: auth.audience,
  }),
);
