import { testCheckpointKeyFile } from './checkpointKeys';
import pino, { type Logger } from 'pino';
import { loadConfig } from '../../src/config';
import { createService, type Service } from '../../src/service';
import { TEST_SECRET } from './tokens';

export interface RunningService {
  url: string;
  service: Service;
  close(): Promise<void>;
}

/** The real service, in process, on a free loopback port; silent unless given a logger (see captureLogs). */
export async function startService(
  databaseUrl: string,
  env: Record<string, string> = {},
  logger: Logger = pino({ level: 'silent' }),
): Promise<RunningService> {
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    AUTH_JWT_SECRET: TEST_SECRET,
    PORT: '0',
    HOST: '127.0.0.1',
    CHECKPOINT_KEY_FILE: testCheckpointKeyFile(),
    ...env,
  });
  const service = await createService(config, logger);
  const url = await service.listen();
  return { url, service, close: () => service.close() };
}

export const sampleEvent = (overrides: Record<string, unknown> = {}) => ({
  source: 'marketingcloud',
  service: { serviceId: 'SKMS-1234' },
  resource: { resourceId: 'stream/42' },
  action: 'update',
  imsOrgId: 'ORG-A@AdobeOrg',
  timestamp: '2017-10-31T00:02:04.232Z',
  tags: { region: 'eu-west-1' },
  userIdentifier: 'jane.doe@example.com',
  ...overrides,
});

export async function postJson(url: string, body: unknown, headers: Record<string, string>): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}
