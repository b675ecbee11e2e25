import { expect } from 'chai';
import { ConfigError, loadConfig } from '../src/config';

const SECRET = { AUTH_JWT_SECRET: 'x'.repeat(32) };

describe('loadConfig: streams and webhooks (#15)', () => {
  it('allows no webhook host by default, and loopback only in dev mode', () => {
    expect(loadConfig(SECRET).webhooks).to.deep.include({ allowedHosts: [], allowLoopback: false, batchEvents: 500 });
    expect(loadConfig({}).webhooks.allowLoopback).to.equal(true);
    expect(
      loadConfig({ ...SECRET, WEBHOOK_ALLOWED_HOSTS: ' SIEM.example.com, *.corp.example ' }).webhooks.allowedHosts,
    ).to.deep.equal(['siem.example.com', '*.corp.example']);
    expect(loadConfig(SECRET).stream).to.deep.equal({ heartbeatMs: 15_000, pollMs: 500, stallMs: 30_000 });
  });

  for (const [env, message] of [
    [{ WEBHOOK_ALLOWED_HOSTS: 'https://siem.example.com' }, 'WEBHOOK_ALLOWED_HOSTS'],
    [
      { WEBHOOK_LEASE_MS: '5000', WEBHOOK_TIMEOUT_MS: '5000' },
      'WEBHOOK_LEASE_MS must be longer than WEBHOOK_TIMEOUT_MS',
    ],
    [{ WEBHOOK_BATCH_EVENTS: '0' }, 'WEBHOOK_BATCH_EVENTS'],
    [{ STREAM_HEARTBEAT_MS: 'soon' }, 'STREAM_HEARTBEAT_MS'],
  ] as const) {
    it(`refuses ${JSON.stringify(env)}`, () => {
      expect(() => loadConfig({ ...SECRET, ...env })).to.throw(ConfigError, message);
    });
  }
});
