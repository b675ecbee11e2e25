import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function verify(...args: string[]): Promise<Run> {
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/verify.ts', ...args],
      { timeout: 30_000 },
      (error, stdout, stderr) => resolve({ code: error ? ((error.code as number) ?? 1) : 0, stdout, stderr }),
    ),
  );
}

describe('npm run verify: usage and database errors', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'audit-verify-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('a SQLite path that does not exist: exit 2, a clear message, and no file or folder created', async function () {
    this.timeout(30_000);
    for (const missing of [path.join(dir, 'typo', 'audit.db'), path.join(dir, 'audti.db')]) {
      const run = await verify('--org', 'ACME@AdobeOrg', '--database', `sqlite:${missing}`);
      expect(run.code, run.stderr).to.equal(2);
      expect(run.stderr.trim()).to.equal(`verify: no SQLite database at ${missing} (check --database or DATABASE_URL)`);
      expect(existsSync(missing), missing).to.equal(false);
    }
    expect(existsSync(path.join(dir, 'typo')), 'the missing folder').to.equal(false);
  });

  it('a file that is not the service database: exit 2 without SQL in the message', async function () {
    this.timeout(30_000);
    const empty = path.join(dir, 'empty.db');
    await writeFile(empty, '');
    const run = await verify('--org', 'ACME@AdobeOrg', '--database', `sqlite:${empty}`);
    expect(run.code, run.stderr).to.equal(2);
    expect(run.stderr)
      .to.match(/^verify: that database holds no audit events/)
      .and.not.match(/select|audit_log_heads/i);
  });

  it('a mistyped URL: exit 2, one line, the password masked', async function () {
    this.timeout(30_000);
    const run = await verify('--org', 'ACME@AdobeOrg', '--database', 'postgress://u:s3cret@127.0.0.1:1/x');
    expect(run.code, run.stderr).to.equal(2);
    expect(run.stderr.trim()).to.equal(
      'verify: DATABASE_URL must start with sqlite: or postgres://, got "postgress://u:***@127.0.0.1:1/x"',
    );
  });
});
