// Contract test: runs Dredd against api/openapi.yaml and a real server on a throwaway SQLite database.
//   npm run test:contract [-- extra dredd args, e.g. --names or --loglevel=debug]
// Exits with Dredd's exit code; always stops the server and deletes the temporary directory.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mintToken } from '../src/auth/mintToken';
import { buildViewer } from './build';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SPEC = path.join(ROOT, 'api/openapi.yaml');
const HOOKS = path.join(ROOT, 'test/contract/hooks.cjs');
const DREDD = path.join(ROOT, 'node_modules/dredd/bin/dredd');
const CLIENT_ID = 'contract-test';
const SECRET = randomBytes(32).toString('base64url'); // fresh per run; the server verifies HS256 with it
// Tokens are minted as `npm run token` mints them, so the contract covers the tokens clients really get.
const credentials = { secret: SECRET, clientId: CLIENT_ID, orgs: '*', expiresIn: 3600 };

/** PORT=0 would hide the port from Dredd, so ask the OS for a free one and hand it over. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function waitUntilLive(url: string, server: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`server exited with code ${server.exitCode} before it was live`);
    try {
      if ((await fetch(`${url}/health/live`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`server did not answer ${url}/health/live within 30 s`);
}

function exited(child: ChildProcess): Promise<number> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? 1);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
}

const tmp = await mkdtemp(path.join(os.tmpdir(), 'audit-contract-'));
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const children: ChildProcess[] = [];

// A Ctrl-C or kill must not leave the server or Dredd running.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const child of children) child.kill('SIGTERM');
    process.exitCode = 130;
  });
}

// The caller's AUTH_* / BODY_LIMIT_BYTES would change what the server accepts; the spec documents the defaults.
const baseEnv = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !name.startsWith('AUTH_') && name !== 'BODY_LIMIT_BYTES'),
);

let exitCode = 1;
let server: ChildProcess | undefined;
try {
  // The server runs from source, but serves the viewer's bundle (GET /viewer/{asset}) from dist/.
  await buildViewer();
  server = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    stdio: 'inherit',
    env: {
      ...baseEnv,
      HOST: '127.0.0.1',
      PORT: String(port),
      DATA_DIR: tmp,
      DATABASE_URL: `sqlite:${path.join(tmp, 'audit.db')}`,
      AUTH_JWT_SECRET: SECRET,
      // The subscription examples' host (deliveries to it fail and are retried; only the API is checked).
      WEBHOOK_ALLOWED_HOSTS: 'siem.example.com',
      LOG_LEVEL: 'warn', // keep Dredd's report readable; errors still show
    },
  });
  children.push(server);
  await waitUntilLive(url, server);

  const dredd = spawn(
    process.execPath,
    [DREDD, SPEC, url, `--hookfiles=${HOOKS}`, '--language=nodejs', ...process.argv.slice(2)],
    {
      cwd: ROOT,
      stdio: 'inherit',
      env: {
        ...baseEnv,
        // Read by the hooks: the credentials for each case they provoke.
        CONTRACT_CLIENT_ID: CLIENT_ID,
        CONTRACT_TOKEN: await mintToken({ ...credentials, scope: 'audit.write audit.read audit.admin audit.erase' }),
        CONTRACT_UNSCOPED_TOKEN: await mintToken({ ...credentials, scope: '' }),
      },
    },
  );
  children.push(dredd);
  exitCode = await exited(dredd);
} catch (error) {
  console.error(`contract test could not run: ${(error as Error).message}`);
} finally {
  if (server) {
    server.kill('SIGTERM'); // graceful: the server closes the database before exiting
    await exited(server);
  }
  await rm(tmp, { recursive: true, force: true });
}
process.exit(process.exitCode || exitCode);
