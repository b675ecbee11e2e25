import { spawn } from 'node:child_process';
import { expect } from 'chai';
import { TEST_SECRET } from './helpers/tokens';

/** Runs the service's entry point to its exit (it must not start) and returns its exit code and output. */
function runToExit(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', AUTH_JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'trace', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    }),
  );
}

describe('start-up failures never print a database password', () => {
  it('an unreachable PostgreSQL: exit 1 with one line naming the failure', async function () {
    this.timeout(30_000);
    const { code, output } = await runToExit({ DATABASE_URL: 'postgres://u:s3cret@127.0.0.1:1/x' });
    expect(code, output).to.equal(1);
    expect(output).to.include('could not start: connect ECONNREFUSED 127.0.0.1:1');
    expect(output).to.not.include('s3cret');
  });

  it('a mistyped DATABASE_URL: exit 1 with the variable named and the password masked', async function () {
    this.timeout(30_000);
    const { code, output } = await runToExit({ DATABASE_URL: 'postgress://u:s3cret@127.0.0.1:1/x' });
    expect(code, output).to.equal(1);
    expect(output).to.match(/^configuration error: DATABASE_URL must start with/);
    expect(output).to.include('postgress://u:***@127.0.0.1:1/x').and.not.include('s3cret');
  });
});
