import { request as httpRequest, type IncomingMessage } from 'node:http';
import { expect } from 'chai';
import { createTestDatabase, type TestDatabase } from './helpers/databases';
import { captureLogs, type CapturedLogs } from './helpers/logs';
import { appendEvents } from './helpers/reads';
import { sampleEvent, startService, type RunningService } from './helpers/service';
import { authHeaders, ORG } from './helpers/tokens';

const PAUSE_MS = 400;

describe('the request log of a streamed export', () => {
  let database: TestDatabase;
  let running: RunningService;
  let logs: CapturedLogs;
  before(async () => {
    database = await createTestDatabase('sqlite');
    logs = captureLogs('info');
    running = await startService(database.url, {}, logs.logger);
    // About 10 MB of NDJSON: more than the socket buffers hold, so the stream waits for the reader.
    const tags = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, 'v'.repeat(1000)]));
    await appendEvents(
      running.service.store,
      Array.from({ length: 160 }, () => sampleEvent({ tags })),
    );
  });
  after(async () => {
    await running?.close();
    await database?.dispose();
  });

  const requestLines = (requestId: string) =>
    logs.lines().filter((line) => line.msg === 'request' && line.requestId === requestId);

  it('is written when the response has ended, its durationMs covering a slow reader', async () => {
    const headers = { ...(await authHeaders({ orgs: [ORG] })), 'x-request-id': 'slow-export' };
    const started = Date.now();
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      httpRequest(`${running.url}/audits/export?imsOrgId=${encodeURIComponent(ORG)}`, { headers })
        .on('response', resolve)
        .on('error', reject)
        .end();
    });
    expect(res.statusCode).to.equal(200);
    res.pause();
    await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
    expect(requestLines('slow-export'), 'logged while the body was still streaming').to.have.length(0);
    let bytes = 0;
    res.on('data', (chunk: Buffer) => (bytes += chunk.length)).resume();
    await new Promise((resolve) => res.on('end', resolve));
    const elapsed = Date.now() - started;
    expect(bytes).to.be.greaterThan(9_000_000);
    for (let i = 0; i < 100 && requestLines('slow-export').length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const [line, ...more] = requestLines('slow-export');
    expect(more).to.have.length(0);
    expect(line).to.deep.include({ operationId: 'exportAuditEvents', status: 200 });
    expect(line.durationMs)
      .to.be.a('number')
      .at.least(PAUSE_MS)
      .and.at.most(elapsed + 50);
  });
});
