import { ConfigError, describeDatabase, loadConfig, withoutCredentials, type Config } from './config';
import { createLogger } from './logger';
import { createService, type Service } from './service';

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`configuration error: ${error.message}`);
    process.exit(1);
  }
  throw error;
}

const logger = createLogger(config.logLevel);
if (config.auth.mode === 'dev') {
  logger.warn(
    `DEV MODE: no AUTH_* variable is set, so tokens are verified with the local secret in ${config.auth.secretFile}. ` +
      'Mint one with `npm run token -- --client ID --org ORG`, or open the viewer (GET /) from this machine and ' +
      '"Sign in as developer" (POST /dev/token: read-only, dev mode only). ' +
      'Set AUTH_JWT_SECRET, AUTH_JWKS_FILE or AUTH_JWKS_URL in production.',
  );
}
if (config.checkpointKeys.mode === 'dev') {
  logger.warn(
    `DEV MODE: no CHECKPOINT_KEY_FILE is set, so checkpoints are signed with the local key in ${config.checkpointKeys.file}, ` +
      'created on first start. Instances with other data directories would each sign with a key of their own. ' +
      'Make one with `npm run keygen -- --name NAME --out FILE` and set CHECKPOINT_KEY_FILE in production.',
  );
}

let service: Service;
let url: string;
try {
  service = await createService(config, logger);
  url = await service.listen();
} catch (error) {
  // The logger keeps only an error's safe fields and masks URL passwords in its message.
  logger.fatal({ err: error }, 'could not start: %s', withoutCredentials((error as Error).message ?? String(error)));
  process.exit(1);
}
logger.info({ url, database: describeDatabase(config.database) }, `audit service listening on ${url}`);
// Log lines are batched; the start-up lines must not wait for the batch to fill.
logger.flush();

let stopping = false;
async function shutDown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down: finishing in-flight requests');
  // A hung request must not keep the process alive forever.
  const deadline = setTimeout(() => {
    logger.error('shutdown timed out; exiting');
    process.exit(1);
  }, 10_000);
  deadline.unref();
  try {
    await service.close();
    logger.info('shut down cleanly');
    process.exit(0);
  } catch (error) {
    logger.error({ err: error }, 'shutdown failed');
    process.exit(1);
  }
}
// The commits' counters since the previous SIGUSR2 (groups, events, round trip, commit thread
// and COMMIT time): how `npm run bench` reads average group sizes without a cost per request.
process.on('SIGUSR2', () => {
  logger.info({ commitStats: service.takeCommitStats() }, 'commit stats');
  logger.flush();
});
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void shutDown(signal));
