import { expect } from 'chai';
import { ConfigError, loadConfig } from '../src/config';

describe('loadConfig', () => {
  it('has defaults that run the service on the embedded SQLite database in dev mode', () => {
    const config = loadConfig({});
    expect(config).to.deep.include({ port: 8080, host: '127.0.0.1', logLevel: 'info', bodyLimitBytes: 65536 });
    expect(config.database).to.deep.equal({ client: 'sqlite', filename: 'data/audit.db' });
    expect(config.auth).to.deep.include({ mode: 'dev', secretFile: 'data/dev-jwt-secret' });
  });

  it('reads PostgreSQL URLs and the auth sources', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u@h:5432/db' }).database).to.deep.equal({
      client: 'postgres',
      connectionString: 'postgres://u@h:5432/db',
    });
    const secret = 'x'.repeat(32);
    expect(loadConfig({ AUTH_JWT_SECRET: secret, AUTH_ISSUER: 'iss' }).auth).to.deep.equal({
      mode: 'secret',
      secret,
      issuer: 'iss',
      audience: undefined,
    });
    expect(loadConfig({ AUTH_JWKS_FILE: 'keys.json' }).auth).to.deep.include({
      mode: 'jwks-file',
      jwksFile: 'keys.json',
    });
    expect(loadConfig({ AUTH_JWKS_URL: 'https://idp.example/jwks' }).auth).to.deep.include({ mode: 'jwks-url' });
  });

  const bad: [Record<string, string>, RegExp][] = [
    [{ PORT: 'eighty' }, /^PORT must be an integer from 0 to 65535, got "eighty"$/],
    [{ PORT: '70000' }, /^PORT must be/],
    [{ DATABASE_URL: 'mysql://x' }, /^DATABASE_URL must start with sqlite: or postgres:\/\//],
    [{ DATABASE_URL: 'sqlite:' }, /^DATABASE_URL: sqlite: needs a file path/],
    [
      { DATABASE_URL: 'sqlite::memory:' },
      /^DATABASE_URL: sqlite: needs a file path; in-memory databases are not supported$/,
    ],
    [{ AUTH_JWT_SECRET: 'short' }, /^AUTH_JWT_SECRET must be at least 32 bytes$/],
    [
      { AUTH_JWT_SECRET: 'x'.repeat(32), AUTH_JWKS_FILE: 'k.json' },
      /^set only one of AUTH_JWT_SECRET, AUTH_JWKS_FILE$/,
    ],
    [{ AUTH_JWKS_URL: 'not a url' }, /^AUTH_JWKS_URL is not a URL/],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL must be one of/],
    [{ BODY_LIMIT_BYTES: '0' }, /^BODY_LIMIT_BYTES must be an integer/],
    [{ DB_TIMEOUT_MS: '-1' }, /^DB_TIMEOUT_MS must be an integer/],
  ];
  for (const [env, message] of bad) {
    it(`refuses ${JSON.stringify(env).slice(0, 60)} with one line naming the variable`, () => {
      expect(() => loadConfig(env)).to.throw(ConfigError, message);
    });
  }
});
