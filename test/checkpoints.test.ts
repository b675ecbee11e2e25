import { execFile } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { DEV_KEY_NAME, loadCheckpointNotary, parseKeyFile, writeFileOnce } from '../src/checkpointKeys';
import { ConfigError, type CheckpointKeysConfig } from '../src/config';
import { CheckpointNotary, logOrigin } from '../src/domain/checkpoints';
import { AuditError } from '../src/domain/errors';
import { EMPTY_ROOT, leafHash } from '../src/domain/merkle';
import { TEST_CHECKPOINT_VERIFIER_KEY, testCheckpointKeyFile } from './helpers/checkpointKeys';
import {
  generateSignerKey,
  openNote,
  parseCheckpoint,
  parseSignerKey,
  parseVerifierKey,
  verifierKeyOf,
  type Signer,
} from '../src/domain/note';

// Go's golang.org/x/mod/sumdb/note/note_test.go keys, as in test/note.test.ts:
// https://github.com/golang/mod/blob/fe2ec04f7c3c3aa6fad97631aafcff6e49e2d1db/sumdb/note/note_test.go
const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';

const run = promisify(execFile);
const ROOT = leafHash(Buffer.from('hello world'));

/** The secret part of a private key text: everything after its fourth '+'. */
const secretOf = (key: string) => key.split('+').slice(4).join('+');

/** A signer that counts its signatures, to see what the cache saves. */
function counting(signer: Signer): Signer & { calls: () => number } {
  let calls = 0;
  return {
    ...signer,
    sign: (message) => {
      calls++;
      return signer.sign(message);
    },
    calls: () => calls,
  };
}

function refusal(call: () => unknown, type: new (...args: never[]) => Error = AuditError): string {
  try {
    call();
  } catch (error) {
    expect(error).to.be.instanceOf(type);
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('checkpoint origins', () => {
  it('keeps an ordinary org id as it is', () => {
    expect(logOrigin('audit.example', 'ACME@AdobeOrg')).to.equal('audit.example/ACME@AdobeOrg');
    expect(logOrigin('audit.example', "AZaz09-._~!$&'()*,;=:@")).to.equal("audit.example/AZaz09-._~!$&'()*,;=:@");
  });

  it('escapes +, space, /, %, newline and non-ASCII as upper-case %XX of their UTF-8 bytes', () => {
    const cases: [string, string][] = [
      ['a+b', 'a%2Bb'],
      ['a b', 'a%20b'],
      ['a/b', 'a%2Fb'],
      ['100%', '100%25'],
      ['%2F', '%252F'],
      ['line\nbreak', 'line%0Abreak'],
      ['tab\tcr\r', 'tab%09cr%0D'],
      ['é', '%C3%A9'],
      ['\u00a0', '%C2%A0'],
      ['日本', '%E6%97%A5%E6%9C%AC'],
      ['😀', '%F0%9F%98%80'],
      ['#?"<>[]\\^`{|}\x7f\0', '%23%3F%22%3C%3E%5B%5D%5C%5E%60%7B%7C%7D%7F%00'],
    ];
    for (const [org, escaped] of cases) expect(logOrigin('k', org), JSON.stringify(org)).to.equal(`k/${escaped}`);
  });

  it('keeps exactly the listed ASCII characters, and decodes back to the org id', () => {
    const safe = new Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*,;=:@");
    for (let code = 0; code < 128; code++) {
      const char = String.fromCharCode(code);
      const expected = safe.has(char) ? char : `%${code.toString(16).toUpperCase().padStart(2, '0')}`;
      expect(logOrigin('k', char), `U+${code.toString(16)}`).to.equal(`k/${expected}`);
    }
    // One line without spaces or '+', and one origin per org: it decodes back.
    const orgs = ['ACME@AdobeOrg', 'a b+c/d%e\nf', 'ü/😀', '%41', 'A'];
    for (const org of orgs) {
      const escaped = logOrigin('k', org).slice('k/'.length);
      expect(escaped).to.not.match(/[\s+/]/);
      expect(decodeURIComponent(escaped)).to.equal(org);
    }
    expect(new Set(orgs.map((org) => logOrigin('k', org))).size).to.equal(orgs.length);
  });

  it('refuses an empty org id, one that is not well-formed Unicode, and a bad key name', () => {
    expect(refusal(() => logOrigin('k', ''))).to.match(/imsOrgId must not be empty/);
    expect(refusal(() => logOrigin('k', 'a\ud800'))).to.match(/not well-formed Unicode/);
    expect(refusal(() => logOrigin('a b', 'org'))).to.match(/key name/);
    expect(refusal(() => logOrigin('', 'org'))).to.match(/key name/);
  });
});

describe('CheckpointNotary', () => {
  const peter = parseSignerKey(PETER_SKEY);

  it('signs a checkpoint Go’s note format opens with the key it lists', () => {
    const notary = new CheckpointNotary([peter]);
    expect(notary.keyName).to.equal('PeterNeumann');
    expect(notary.verifierKeys()).to.equal(`${PETER_VKEY}\n`);
    const note = notary.sign('ACME@AdobeOrg', 123456789012, ROOT);
    expect(note).to.match(
      /^PeterNeumann\/ACME@AdobeOrg\n123456789012\nTszzRgjTG6xce\+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n\n— PeterNeumann [A-Za-z0-9+/]{91}=\n$/,
    );
    const opened = openNote(note, [parseVerifierKey(PETER_VKEY)]);
    expect(opened.signatures.map((s) => s.keyId)).to.deep.equal([0xc74f20a3]);
    expect(parseCheckpoint(opened.text)).to.deep.equal({
      origin: 'PeterNeumann/ACME@AdobeOrg',
      size: 123456789012,
      rootHash: ROOT,
    });
  });

  it('signs the empty tree, and escapes the org in the origin', () => {
    const note = new CheckpointNotary([peter]).sign('a b+c', 0, EMPTY_ROOT);
    const { text } = openNote(note, [parseVerifierKey(PETER_VKEY)]);
    expect(parseCheckpoint(text)).to.deep.equal({ origin: 'PeterNeumann/a%20b%2Bc', size: 0, rootHash: EMPTY_ROOT });
  });

  it('with two keys: both sign, newest first, and either verifier key alone verifies', () => {
    const newer = parseSignerKey(generateSignerKey('PeterNeumann'));
    const notary = new CheckpointNotary([newer, peter]);
    const keys = notary.verifierKeys();
    expect(keys).to.equal(`${verifierKeyOf(newer)}\n${PETER_VKEY}\n`);
    const verifiers = keys.slice(0, -1).split('\n').map(parseVerifierKey);
    const note = notary.sign('ACME@AdobeOrg', 7, ROOT);
    const lines = note.split('\n');
    expect(lines.slice(4, 6).map((line) => line.split(' ')[1])).to.deep.equal(['PeterNeumann', 'PeterNeumann']);
    expect(openNote(note, verifiers).signatures.map((s) => s.keyId)).to.deep.equal([newer.keyId, peter.keyId]);
    for (const verifier of verifiers) {
      const opened = openNote(note, [verifier]);
      expect(opened.signatures.map((s) => s.keyId)).to.deep.equal([verifier.keyId]);
      expect(opened.unverified).to.have.length(1);
    }
    // The old key's line is what the old key alone would have signed.
    const alone = new CheckpointNotary([peter]).sign('ACME@AdobeOrg', 7, ROOT);
    expect(note.endsWith(alone.split('\n\n')[1])).to.equal(true);
  });

  it('returns the same bytes for the same checkpoint, from its cache, and re-signs another root', () => {
    const signer = counting(peter);
    const notary = new CheckpointNotary([signer]);
    const before = signer.calls();
    const first = notary.sign('ACME@AdobeOrg', 5, ROOT);
    expect(notary.sign('ACME@AdobeOrg', 5, Uint8Array.from(ROOT))).to.equal(first);
    expect(signer.calls() - before).to.equal(1);
    // Ed25519 is deterministic: a fresh notary writes the very same bytes.
    expect(new CheckpointNotary([peter]).sign('ACME@AdobeOrg', 5, ROOT)).to.equal(first);
    // A cached note is never handed out for another root, size or org.
    const other = notary.sign('ACME@AdobeOrg', 5, EMPTY_ROOT);
    expect(parseCheckpoint(openNote(other, [parseVerifierKey(PETER_VKEY)]).text).rootHash).to.deep.equal(EMPTY_ROOT);
    expect(notary.sign('ACME@AdobeOrg', 6, ROOT)).to.not.equal(first);
    expect(notary.sign('OTHER@AdobeOrg', 5, ROOT)).to.not.equal(first);
    expect(signer.calls() - before).to.equal(4);
  });

  it('bounds its cache, dropping the least recently used checkpoint first', () => {
    const signer = counting(peter);
    const notary = new CheckpointNotary([signer], { cacheEntries: 2 });
    const calls = () => signer.calls();
    const start = calls();
    notary.sign('a', 1, ROOT);
    notary.sign('b', 1, ROOT);
    notary.sign('a', 1, ROOT); // a hit: now the most recent
    expect(calls() - start).to.equal(2);
    notary.sign('c', 1, ROOT); // evicts b
    notary.sign('a', 1, ROOT);
    expect(calls() - start).to.equal(3);
    notary.sign('b', 1, ROOT);
    expect(calls() - start).to.equal(4);
    const uncached = counting(peter);
    const none = new CheckpointNotary([uncached], { cacheEntries: 0 });
    const n = uncached.calls();
    none.sign('a', 1, ROOT);
    none.sign('a', 1, ROOT);
    expect(uncached.calls() - n).to.equal(2);
  });

  it('refuses keys of mixed names, no key, and one key twice', () => {
    const other = parseSignerKey(generateSignerKey('audit.example'));
    expect(refusal(() => new CheckpointNotary([peter, other]), Error)).to.equal(
      'every checkpoint key must have one name, the log\'s: "PeterNeumann" and "audit.example" differ',
    );
    expect(refusal(() => new CheckpointNotary([]), Error)).to.match(/at least one signer/);
    expect(refusal(() => new CheckpointNotary([peter, peter]))).to.equal('key PeterNeumann+c74f20a3 is given twice');
  });

  it('refuses a checkpoint it could not format, as a bad_request', () => {
    const notary = new CheckpointNotary([peter]);
    expect(refusal(() => notary.sign('ACME', -1, ROOT))).to.match(/tree size/);
    expect(refusal(() => notary.sign('ACME', 1.5, ROOT))).to.match(/tree size/);
    expect(refusal(() => notary.sign('ACME', 1, new Uint8Array(31)))).to.match(/root hash is 32 bytes, not 31/);
    expect(refusal(() => notary.sign('', 1, ROOT))).to.match(/imsOrgId/);
  });
});

describe('checkpoint keys: CHECKPOINT_KEY_FILE and the dev key', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'audit-checkpoint-keys-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const keyFile = (name: string, text: string, mode = 0o600) => {
    const file = path.join(dir, name);
    writeFileSync(file, text, { mode });
    chmodSync(file, mode);
    return file;
  };
  const load = (checkpointKeys: CheckpointKeysConfig, warnings: string[] = []) =>
    loadCheckpointNotary({ checkpointKeys }, { warn: (message) => warnings.push(message) });

  it('reads several keys, newest first, past comments, blank lines, CRLF and a BOM', () => {
    const newer = generateSignerKey('PeterNeumann');
    const file = keyFile('keys', `\uFEFF# rotated 2026-12-01\r\n${newer}\r\n\r\n  # the old one\n  ${PETER_SKEY}  \n`);
    const warnings: string[] = [];
    const notary = load({ mode: 'file', file }, warnings);
    expect(warnings).to.deep.equal([]);
    expect(notary.keyName).to.equal('PeterNeumann');
    expect(notary.verifierKeys()).to.equal(`${verifierKeyOf(parseSignerKey(newer))}\n${PETER_VKEY}\n`);
    const note = notary.sign('ACME@AdobeOrg', 1, ROOT);
    expect(openNote(note, [parseVerifierKey(PETER_VKEY)]).signatures).to.have.length(1);
  });

  it('the tests’ key file loads without a warning, with the verifier key the helper pins', () => {
    const warnings: string[] = [];
    const notary = load({ mode: 'file', file: testCheckpointKeyFile() }, warnings);
    expect(notary.verifierKeys()).to.equal(`${TEST_CHECKPOINT_VERIFIER_KEY}\n`);
    expect(notary.keyName).to.equal('audit.test');
    expect(warnings).to.deep.equal([]);
  });

  it('refuses a malformed key file naming the file and the line, never the key', () => {
    const other = generateSignerKey('audit.example');
    const newer = generateSignerKey('PeterNeumann');
    const badId = PETER_SKEY.replace('c74f20a3', 'c74f20a4');
    const cases: [string, RegExp][] = [
      ['', /keys holds no key \(expected PRIVATE\+KEY/],
      ['# only a comment\n\n', /keys holds no key/],
      [`${PETER_SKEY}\nnot a key\n`, /keys line 2: malformed signer key: it is not PRIVATE\+KEY\+/],
      [`# x\n${badId}\n`, /keys line 2: signer key id does not match its key$/],
      [`${PETER_SKEY.slice(0, -4)}\n`, /keys line 1: malformed signer key: /],
      [PETER_VKEY, /keys line 1: this is a verifier \(public\) key; the file holds private keys/],
      [
        `${PETER_SKEY}\n\n${other}\n`,
        /keys line 3: key name "audit\.example" differs from line 1's "PeterNeumann"; all keys of a log share its name/,
      ],
      [`${newer}\n${PETER_SKEY}\n${PETER_SKEY}\n`, /keys line 3: the same key as line 2$/],
    ];
    for (const [text, why] of cases) {
      const file = keyFile('keys', text);
      const message = refusal(() => load({ mode: 'file', file }), ConfigError);
      expect(message, JSON.stringify(text)).to.match(why);
      expect(message).to.include(`CHECKPOINT_KEY_FILE ${file}`);
      for (const key of [PETER_SKEY, other, newer]) expect(message).to.not.include(secretOf(key).slice(1, 20));
    }
    expect(refusal(() => load({ mode: 'file', file: path.join(dir, 'missing') }), ConfigError)).to.equal(
      `CHECKPOINT_KEY_FILE ${path.join(dir, 'missing')}: cannot open it (ENOENT)`,
    );
    expect(refusal(() => load({ mode: 'file', file: dir }), ConfigError)).to.match(/: cannot read it \(EISDIR\)$/);
  });

  it('warns, but loads, a key file group or others may read, and not one of mode 0600 or 0400', () => {
    for (const [mode, warned] of [
      [0o644, true],
      [0o640, true],
      [0o604, true],
      [0o600, false],
      [0o400, false],
    ] as const) {
      const file = keyFile(`keys-${mode.toString(8)}`, `${PETER_SKEY}\n`, mode);
      const warnings: string[] = [];
      expect(load({ mode: 'file', file }, warnings).verifierKeys()).to.equal(`${PETER_VKEY}\n`);
      if (!warned) {
        expect(warnings, mode.toString(8)).to.deep.equal([]);
        continue;
      }
      expect(warnings).to.deep.equal([
        `CHECKPOINT_KEY_FILE ${file} has mode ${mode.toString(8)}: group or others may read the signing keys; chmod 600 it`,
      ]);
    }
  });

  it('dev mode: creates one key of mode 0600 (and its folder), then reuses it', () => {
    const file = path.join(dir, 'data', 'nested', 'dev-checkpoint-key');
    const warnings: string[] = [];
    const first = load({ mode: 'dev', file }, warnings);
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    expect(first.keyName).to.equal(DEV_KEY_NAME);
    const text = readFileSync(file, 'utf8');
    expect(text.split('\n').filter((line) => line.startsWith('PRIVATE+KEY+audit.localhost+'))).to.have.length(1);
    // Its comment names the verifier key, which is what the notary lists.
    expect(text).to.include(`# ${first.verifierKeys()}`);
    const second = load({ mode: 'dev', file }, warnings);
    expect(second.verifierKeys()).to.equal(first.verifierKeys());
    expect(readFileSync(file, 'utf8')).to.equal(text);
    expect(second.sign('ACME', 3, ROOT)).to.equal(first.sign('ACME', 3, ROOT));
    expect(readdirSync(path.dirname(file))).to.deep.equal(['dev-checkpoint-key']);
    expect(warnings).to.deep.equal([]);
  });

  it('dev mode: a corrupt dev key file is refused, naming it', () => {
    const file = keyFile('dev-checkpoint-key', 'garbage\n');
    expect(refusal(() => load({ mode: 'dev', file }), ConfigError)).to.equal(
      `dev checkpoint key file ${file} line 1: malformed signer key: it is not PRIVATE+KEY+<name>+<key id>+<key>`,
    );
    expect(readFileSync(file, 'utf8')).to.equal('garbage\n');
  });

  it('writeFileOnce: the first content stays, a second writer is told so, no temporary file is left', () => {
    const file = path.join(dir, 'once');
    expect(writeFileOnce(file, 'first\n')).to.equal(true);
    expect(writeFileOnce(file, 'second\n')).to.equal(false);
    expect(readFileSync(file, 'utf8')).to.equal('first\n');
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    expect(readdirSync(dir)).to.deep.equal(['once']);
  });

  it('dev mode: processes starting at once all end up with one and the same key', async function () {
    this.timeout(60_000);
    const file = path.join(dir, 'data', 'dev-checkpoint-key');
    const module = new URL('../src/checkpointKeys.ts', import.meta.url).href;
    // Each process waits for the same instant, then loads (and so creates) the key.
    const startAt = Date.now() + 4000;
    const script = `import { loadCheckpointNotary } from ${JSON.stringify(module)};
      while (Date.now() < ${startAt});
      process.stdout.write(loadCheckpointNotary({ checkpointKeys: { mode: 'dev', file: ${JSON.stringify(file)} } }).verifierKeys());`;
    const outputs = await Promise.all(
      Array.from({ length: 6 }, () =>
        run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 30_000 }),
      ),
    );
    const keys = outputs.map(({ stdout }) => stdout);
    expect(keys[0]).to.match(/^audit\.localhost\+[0-9a-f]{8}\+\S+\n$/);
    expect(new Set(keys).size, keys.join('')).to.equal(1);
    expect(readdirSync(path.dirname(file))).to.deep.equal(['dev-checkpoint-key']);
    expect(parseKeyFile(readFileSync(file, 'utf8'), file).map(verifierKeyOf)).to.deep.equal([keys[0].trim()]);
  });

  it('npm run keygen: writes a 0600 key file, prints its verifier key, and never overwrites', async function () {
    this.timeout(60_000);
    const out = path.join(dir, 'keys', 'checkpoint-key');
    const keygen = (...args: string[]) =>
      run(process.execPath, ['--import', 'tsx', 'scripts/keygen.ts', ...args], { timeout: 30_000 }).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
    const made = await keygen('--name', 'audit.example', '--out', out);
    expect(made.code, made.stderr).to.equal(0);
    expect(statSync(out).mode & 0o777).to.equal(0o600);
    const notary = load({ mode: 'file', file: out });
    expect(notary.keyName).to.equal('audit.example');
    expect(made.stdout).to.equal(notary.verifierKeys());
    const text = readFileSync(out, 'utf8');
    const again = await keygen('--name', 'audit.example', '--out', out);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.equal(`keygen: ${out} exists; not overwriting it\n`);
    expect(readFileSync(out, 'utf8')).to.equal(text);
    expect(readdirSync(path.dirname(out))).to.deep.equal(['checkpoint-key']);

    const printed = await keygen('--name', 'audit.example');
    expect(printed.code).to.equal(0);
    expect(verifierKeyOf(parseSignerKey(printed.stdout.trim()))).to.equal(printed.stderr.trim());
    for (const args of [['--name', 'two words'], [], ['--name', 'x', '--bogus']]) {
      const refused = await keygen(...args);
      expect(refused.code, args.join(' ')).to.equal(2);
      expect(refused.stdout).to.equal('');
    }
    expect(existsSync(path.join(dir, 'two words'))).to.equal(false);
  });
});
