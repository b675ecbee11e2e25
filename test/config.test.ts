import { expect } from 'chai';
import { ConfigError, describeDatabase, loadConfig } from '../src/config';

describe('loadConfig', () => {
  it('has defaults that run the service on the embedded SQLite database in dev mode', () => {
    const config = loadConfig({});
    expect(config).to.deep.include({ port: 8080, host: '127.0.0.1', logLevel: 'info', bodyLimitBytes: 65536 });
    expect(config.database).to.deep.equal({ client: 'sqlite', filename: 'data/audit.db' });
    expect(config.auth).to.deep.include({ mode: 'dev', secretFile: 'data/dev-jwt-secret' });
    expect(config.checkpointKeys).to.deep.equal({ mode: 'dev', file: 'data/dev-checkpoint-key' });
  });

  it('reads CHECKPOINT_KEY_FILE, or keeps the dev checkpoint key in DATA_DIR', () => {
    expect(loadConfig({ CHECKPOINT_KEY_FILE: '/run/secrets/checkpoint-keys' }).checkpointKeys).to.deep.equal({
      mode: 'file',
      file: '/run/secrets/checkpoint-keys',
    });
    expect(loadConfig({ DATA_DIR: '/var/lib/audit' }).checkpointKeys).to.deep.equal({
      mode: 'dev',
      file: '/var/lib/audit/dev-checkpoint-key',
    });
    // Set but empty is unset, as for every variable here.
    expect(loadConfig({ CHECKPOINT_KEY_FILE: '' }).checkpointKeys.mode).to.equal('dev');
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
    [{ HTTP_HEADERS_TIMEOUT_MS: '10' }, /^HTTP_HEADERS_TIMEOUT_MS must be an integer/],
    [{ HTTP_MAX_CONNECTIONS: '0' }, /^HTTP_MAX_CONNECTIONS must be an integer/],
  ];
  it('never echoes a database password, whatever is wrong with the URL', () => {
    for (const url of [
      'postgress://user:s3cret@db.internal:5432/audit', // the scheme mistyped
      'postgres://user:s3cret@db.internal:port/audit', // not a URL
      'postgres://user:s3c@ret@db.internal/audit', // an unescaped @ in the password
      'postgres://user:s3c/ret@db.internal/audit', // an unescaped / in the password
      'postgres://db.internal/audit?password=s3cret&x=%zz',
      'mysql://user:s3cret@db.internal/audit',
    ]) {
      try {
        loadConfig({ DATABASE_URL: url });
      } catch (error) {
        expect(error).to.be.instanceOf(ConfigError);
        expect((error as Error).message)
          .to.match(/^DATABASE_URL/)
          .and.not.match(/s3c|ret@/);
        continue;
      }
      expect(describeDatabase(loadConfig({ DATABASE_URL: url }).database), url).to.not.match(/s3c|ret@/);
    }
  });

  it('describes the database for the log without its password', () => {
    expect(describeDatabase(loadConfig({ DATABASE_URL: 'postgres://u:s3cret@h:5432/db?x=1' }).database)).to.equal(
      'postgres://u:***@h:5432/db?x=1',
    );
    expect(describeDatabase(loadConfig({}).database)).to.equal('sqlite:data/audit.db');
  });

  it('reads the HTTP limits, and refuses a headers timeout longer than the request timeout', () => {
    expect(loadConfig({}).http).to.deep.equal({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 60_000,
      keepAliveTimeoutMs: 5000,
      maxConnections: 10_000,
    });
    expect(() => loadConfig({ HTTP_HEADERS_TIMEOUT_MS: '5000', HTTP_REQUEST_TIMEOUT_MS: '1000' })).to.throw(
      ConfigError,
      /^HTTP_HEADERS_TIMEOUT_MS \(5000\) must not exceed HTTP_REQUEST_TIMEOUT_MS \(1000\)$/,
    );
  });

  for (const [env, message] of bad) {
    it(`refuses ${JSON.stringify(env).slice(0, 60)} with one line naming the variable`, () => {
      expect(() => loadConfig(env)).to.throw(ConfigError, message);
    });
  }
});
