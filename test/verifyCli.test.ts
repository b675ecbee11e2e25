import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { generateSignerKey, parseSignerKey, verifierKeyOf } from '../src/domain/note';
import { buildLog, type TestLog } from './helpers/verifiableLog';

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

describe('npm run verify -- --offline: an export against a signed checkpoint, with the client package alone', function () {
  this.timeout(60_000);
  let dir: string;
  // 20 events in the checkpoint's tree; the log has grown to 23 since.
  const signerKey = generateSignerKey('audit.example');
  const log: TestLog = buildLog('ACME@AdobeOrg', 23, { signerKey });
  const SIZE = 20;
  const inTree = log.events.slice(0, SIZE);
  /** An export as `proofs=true` writes it: the checkpoint line, then each event with its proof. */
  const provenLines = (events = inTree, size = SIZE, checkpoint = log.checkpoint(size)) => [
    JSON.stringify({ checkpoint }),
    ...events.map((event) => JSON.stringify({ ...event, inclusionProof: log.proof(event.seq, size) })),
  ];
  /** Exports run oldest timestamp first, which need not be seq order. */
  const shuffled = <T>(items: T[]) =>
    items
      .map((item, i) => ({ item, key: (i * 7919) % 13 }))
      .sort((a, b) => a.key - b.key)
      .map(({ item }) => item);
  const file = async (name: string, lines: string[] | string) => {
    const target = path.join(dir, name);
    await writeFile(target, typeof lines === 'string' ? lines : lines.map((line) => `${line}\n`).join(''));
    return target;
  };
  const offline = (...args: string[]) => verify('--offline', ...args);

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'audit-verify-offline-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  describe('exit 0: everything verifies', () => {
    it('a whole export in seq order: every leaf hash, and the root recomputed from them', async () => {
      const exported = await file('export.ndjson', provenLines());
      // A key file as GET /audits/checkpoint/key answers, with another key and a comment beside it.
      const other = verifierKeyOf(parseSignerKey(generateSignerKey('audit.example')));
      const keys = await file('keys.txt', ['# pinned 2026-12-01', other, log.verifierKey, '']);
      const run = await offline('--key', keys, '--export', exported);
      expect(run.code, run.stdout + run.stderr).to.equal(0);
      expect(run.stdout.trim()).to.equal(
        `OK: the export is the whole log at checkpoint audit.example/ACME@AdobeOrg tree size 20, signed by ${log.verifierKey.split('+').slice(0, 2).join('+')}: all 20 events verified, and they make its root`,
      );
    });

    it('a whole export out of seq order, each event by its proof; the key given as text', async () => {
      const exported = await file('export.ndjson', [provenLines()[0], ...shuffled(provenLines().slice(1))]);
      const run = await offline('--key', log.verifierKey, '--export', exported);
      expect(run.code, run.stdout + run.stderr).to.equal(0);
      expect(run.stdout).to.match(
        /^OK: the export is the whole log .*: all 20 events verified, each by its inclusion proof\n$/,
      );
    });

    it('a filtered export, each event by its proof; --checkpoint equal to the export’s own', async () => {
      const exported = await file('export.ndjson', provenLines(inTree.filter((event) => event.seq % 3 === 0)));
      const checkpoint = await file('checkpoint.txt', log.checkpoint(SIZE));
      const run = await offline('--key', log.verifierKey, '--checkpoint', checkpoint, '--export', exported);
      expect(run.code, run.stdout + run.stderr).to.equal(0);
      expect(run.stdout).to.match(
        /^OK: 6 events verified by their inclusion proofs to .* \(a partial export: 14 of the log's events are not in it\)\n$/,
      );
    });

    it('a plain NDJSON export of every event, in any order, against --checkpoint', async () => {
      const checkpoint = await file('checkpoint.txt', log.checkpoint(SIZE));
      const exported = await file(
        'export.ndjson',
        shuffled(inTree).map((event) => JSON.stringify(event)),
      );
      const run = await offline('--key', log.verifierKey, '--checkpoint', checkpoint, '--export', exported);
      expect(run.code, run.stdout + run.stderr).to.equal(0);
      expect(run.stdout).to.match(/all 20 events verified, and they make its root\n$/);
    });
  });

  describe('exit 1: something does not verify, one line per problem', () => {
    it('an edited event, a broken proof, a forged event past the tree, a duplicate and another tenant’s event', async () => {
      const lines = provenLines();
      const edit = (seq: number, change: (line: Record<string, unknown>) => void) => {
        const line = JSON.parse(lines[seq]) as Record<string, unknown>;
        change(line);
        lines[seq] = JSON.stringify(line);
      };
      edit(7, (line) => (line.action = 'create')); // the leaf hash no longer matches
      edit(9, (line) => {
        const proof = line.inclusionProof as string[];
        proof[0] = log.events[0].leafHash;
      });
      edit(11, (line) => delete (line.salts as { tags?: object }).tags);
      lines.push(JSON.stringify({ ...log.events[20], inclusionProof: log.proof(21, 23) }));
      lines.push(lines[3]);
      const stranger = buildLog('Other@AdobeOrg', 1).events[0];
      lines.push(JSON.stringify({ ...stranger, inclusionProof: [] }));
      const run = await offline('--key', log.verifierKey, '--export', await file('export.ndjson', lines));
      expect(run.code, run.stderr).to.equal(1);
      expect(run.stdout.trim().split('\n')).to.deep.equal([
        'seq 7: its content does not match its leafHash: it was changed after it was logged',
        "seq 9: its inclusionProof does not lead to the checkpoint's root",
        'seq 11: salts.tags.region is missing, so tags.region cannot be checked',
        "seq 21: it is past the checkpoint's tree of 20 events",
        'seq 3: it appears more than once',
        "seq 1: it is of tenant Other@AdobeOrg, not of the checkpoint's log audit.example/ACME@AdobeOrg",
        'BROKEN: 6 problems',
      ]);
    });

    it('a whole proofless export with one event swapped for another that hashes right', async () => {
      const checkpoint = await file('checkpoint.txt', log.checkpoint(SIZE));
      // A removed event cannot hide: the export is then partial and proofless (exit 2, below), and
      // an event swapped for a forged one with a matching leaf hash breaks the root.
      const forged = buildLog('ACME@AdobeOrg', 20).events[4];
      const events = inTree.map((event) => (event.seq === 5 ? forged : event));
      const run = await offline(
        '--key',
        log.verifierKey,
        '--checkpoint',
        checkpoint,
        '--export',
        await file(
          'e.ndjson',
          events.map((e) => JSON.stringify(e)),
        ),
      );
      expect(run.code, run.stderr).to.equal(1);
      expect(run.stdout).to.equal("the export's 20 events do not make the checkpoint's root\nBROKEN: 1 problem\n");
    });

    it('a checkpoint no given key signed, an altered one, and a fork: two roots signed for one size', async () => {
      const exported = await file('export.ndjson', provenLines());
      const stranger = verifierKeyOf(parseSignerKey(generateSignerKey('audit.example')));
      let run = await offline('--key', stranger, '--export', exported);
      expect(run.code, run.stderr).to.equal(1);
      expect(run.stdout).to.equal(
        'the export’s checkpoint: the checkpoint is not signed by any of the given keys\nBROKEN: 1 problem\n',
      );

      const altered = await file(
        'altered.ndjson',
        provenLines(inTree, SIZE, log.checkpoint(SIZE).replace('\n20\n', '\n21\n')),
      );
      run = await offline('--key', log.verifierKey, '--export', altered);
      expect(run.code, run.stderr).to.equal(1);
      expect(run.stdout).to.match(
        /^the export’s checkpoint: the checkpoint's signature by key audit\.example\+[0-9a-f]{8} does not verify/,
      );

      // The same key signed another tree of 20 events for this tenant.
      const fork = await file('fork.txt', buildLog('ACME@AdobeOrg', 20, { signerKey }).checkpoint());
      run = await offline('--key', log.verifierKey, '--checkpoint', fork, '--export', exported);
      expect(run.code, run.stderr).to.equal(1);
      expect(run.stdout).to.match(
        /both sign tree size 20 with different roots: the log was forked\nBROKEN: 1 problem\n$/,
      );
    });

    it('stops after --max-problems problems', async () => {
      const lines = provenLines().map((line, i) => (i === 0 ? line : line.replace('"action":"', '"action":"x')));
      const run = await offline(
        '--key',
        log.verifierKey,
        '--export',
        await file('e.ndjson', lines),
        '--max-problems',
        '3',
      );
      expect(run.code, run.stderr).to.equal(1);
      expect(run.stdout.trim().split('\n')).to.deep.equal([
        'seq 1: its content does not match its leafHash: it was changed after it was logged',
        'seq 2: its content does not match its leafHash: it was changed after it was logged',
        'seq 3: its content does not match its leafHash: it was changed after it was logged',
        'stopped after 3 problems (--max-problems)',
        'BROKEN: 3 problems',
      ]);
    });
  });

  describe('exit 2: anything else, said on stderr', () => {
    it('bad arguments, unreadable files, malformed JSON, a bad key, a checkpoint of another size', async () => {
      const good = await file('export.ndjson', provenLines());
      const key = log.verifierKey;
      const cases: [string[], RegExp][] = [
        [['--key', key], /^verify: --export is required\nusage: /],
        [['--export', good], /^verify: --key is required\nusage: /],
        [['--key', key, '--export', good, '--frobnicate'], /^verify: Unknown option '--frobnicate'/],
        [
          ['--key', key, '--export', good, '--max-problems', '0'],
          /^verify: --max-problems must be a positive integer, not 0\n$/,
        ],
        [
          ['--key', key, '--export', path.join(dir, 'missing.ndjson')],
          /^verify: --export .*missing\.ndjson: ENOENT\n$/,
        ],
        [['--key', key, '--export', dir], /^verify: --export .*: EISDIR\n$/],
        [
          ['--key', key, '--checkpoint', path.join(dir, 'nope'), '--export', good],
          /^verify: --checkpoint .*nope: ENOENT\n$/,
        ],
        [
          ['--key', 'audit.example+00000000+AAAA', '--export', good],
          /^verify: --key audit\.example\+00000000\+AAAA: .* \(and no such file\)\n$/,
        ],
        [['--key', await file('empty-keys.txt', '# none\n'), '--export', good], /the file holds no verifier key\n$/],
        [
          ['--key', key, '--export', await file('bad.ndjson', [...provenLines().slice(0, 3), '{"seq": 3,'])],
          /^verify: .*bad\.ndjson, line 4: malformed JSON/,
        ],
        [
          ['--key', key, '--export', await file('array.ndjson', [provenLines()[0], '[1]'])],
          /line 2: not a JSON object\n$/,
        ],
        [
          [
            '--key',
            key,
            '--export',
            await file(
              'plain.ndjson',
              inTree.map((e) => JSON.stringify(e)),
            ),
          ],
          /does not start with a checkpoint line .* --checkpoint is needed\n$/,
        ],
        [
          ['--key', key, '--checkpoint', await file('cp19.txt', log.checkpoint(19)), '--export', good],
          /cut against a checkpoint of tree size 20, --checkpoint is of size 19/,
        ],
      ];
      const runs = await Promise.all(cases.map(([args]) => offline(...args)));
      runs.forEach((run, i) => {
        const [args, why] = cases[i];
        expect(run.code, `${args.join(' ')}: ${run.stdout}${run.stderr}`).to.equal(2);
        expect(run.stderr, args.join(' ')).to.match(why);
      });
    });
  });
});
