import { expect } from 'chai';
import { AuditError } from '../src/domain/errors';
import { leafHash } from '../src/domain/merkle';
import {
  formatCheckpoint,
  generateSignerKey,
  openNote,
  parseCheckpoint,
  parseSignerKey,
  parseVerifierKey,
  signNote,
  verifierKeyOf,
} from '../src/domain/note';
import {
  C2SP_NOTE,
  C2SP_VKEY,
  ENOCH_SIG,
  ENOCH_VKEY,
  PETER_SIG,
  PETER_SKEY,
  PETER_VKEY,
  SUMDB_CHECKPOINT,
  SUMDB_VKEY,
  TEXT,
} from './helpers/vectors';

const PETER = {
  name: 'PeterNeumann',
  keyId: 0xc74f20a3,
  base64: 'x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=',
};
const ENOCH = {
  name: 'EnochRoot',
  keyId: 0xaf0cfe78,
  base64: 'rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=',
};
/** Go's sig[:60] + "ABCD" + sig[60:]: byte 60 of the UTF-8 line, after the 3-byte em dash and a space. */
const mangled = (line: string) => line.slice(0, 58) + 'ABCD' + line.slice(58);

const peter = parseVerifierKey(PETER_VKEY);
const enoch = parseVerifierKey(ENOCH_VKEY);

/** The refusal a call makes: always a bad_request, whose message is returned. */
function refusal(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    expect(error).to.be.instanceOf(AuditError).with.property('reason', 'bad_request');
    return (error as AuditError).message;
  }
  throw new Error('expected a refusal');
}

describe('C2SP signed notes, as Go’s sumdb/note reads and writes them', () => {
  describe('keys', () => {
    it('reads Go’s PeterNeumann signer key and derives its verifier key', () => {
      const signer = parseSignerKey(PETER_SKEY);
      expect(signer).to.include({ name: 'PeterNeumann', keyId: 0xc74f20a3 });
      expect(verifierKeyOf(signer)).to.equal(PETER_VKEY);
      expect(verifierKeyOf(peter)).to.equal(PETER_VKEY);
      expect(verifierKeyOf(enoch)).to.equal(ENOCH_VKEY);
    });

    it('refuses every part and every one-byte change of a verifier key, as TestNewVerifier does', () => {
      const accepted: string[] = [];
      const tryKey = (key: string) => {
        try {
          parseVerifierKey(key);
          accepted.push(key);
        } catch (error) {
          expect(error).to.be.instanceOf(AuditError);
        }
      };
      for (let i = 0; i <= PETER_VKEY.length; i++) {
        for (let j = i + 1; j <= PETER_VKEY.length; j++)
          if (i !== 0 || j !== PETER_VKEY.length) tryKey(PETER_VKEY.slice(i, j));
      }
      for (let i = 0; i < PETER_VKEY.length; i++) {
        tryKey(PETER_VKEY.slice(0, i) + String.fromCharCode(PETER_VKEY.charCodeAt(i) + 1) + PETER_VKEY.slice(i + 1));
      }
      expect(accepted).to.deep.equal([]);
      // A key of the wrong length and one of an unknown algorithm, each with its id adjusted to match
      // (Go's decoder reads the first's non-canonical base64 and refuses the length; ours refuses the base64).
      expect(
        refusal(() => parseVerifierKey('PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==')),
      ).to.match(/malformed verifier key/);
      expect(
        refusal(() => parseVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')),
      ).to.match(/unknown verifier key algorithm/);
      const short = Buffer.concat([Buffer.from([1]), Buffer.alloc(31, 9)]).toString('base64');
      expect(refusal(() => parseVerifierKey(`PeterNeumann+c74f20a3+${short}`))).to.match(/an Ed25519 key is 32 bytes/);
    });

    it('refuses every part and every one-byte change of a signer key, as TestNewSigner does', () => {
      const accepted: string[] = [];
      const tryKey = (key: string) => {
        try {
          parseSignerKey(key);
          accepted.push(key);
        } catch (error) {
          expect(error).to.be.instanceOf(AuditError);
        }
      };
      for (let i = 0; i <= PETER_SKEY.length; i++) {
        for (let j = i + 1; j <= PETER_SKEY.length; j++)
          if (i !== 0 || j !== PETER_SKEY.length) tryKey(PETER_SKEY.slice(i, j));
      }
      for (let i = 0; i < PETER_SKEY.length; i++) {
        tryKey(PETER_SKEY.slice(0, i) + String.fromCharCode(PETER_SKEY.charCodeAt(i) + 1) + PETER_SKEY.slice(i + 1));
      }
      expect(accepted).to.deep.equal([]);
    });

    it('never repeats a signer key’s secret in a refusal or in the signer it returns', () => {
      const seed = PETER_SKEY.split('+').slice(4).join('+');
      expect(refusal(() => parseSignerKey(PETER_SKEY.replace('c74f20a3', 'c74f20a4')))).to.not.include(seed);
      expect(refusal(() => parseSignerKey(PETER_SKEY.replace('PeterNeumann', 'Peter Neumann')))).to.not.include(seed);
      const signer = parseSignerKey(PETER_SKEY);
      expect(JSON.stringify(signer)).to.not.include(seed.slice(4, 20));
      expect(Object.values(signer).map(String).join()).to.not.include(seed.slice(4, 20));
    });

    it('generates keys that Go’s format reads back, each new', () => {
      const text = generateSignerKey('example.com/audit/ACME');
      expect(text).to.match(/^PRIVATE\+KEY\+example\.com\/audit\/ACME\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
      const signer = parseSignerKey(text);
      const verifier = parseVerifierKey(verifierKeyOf(signer));
      expect(verifier).to.include({ name: 'example.com/audit/ACME', keyId: signer.keyId });
      expect(openNote(signNote(TEXT, signer), [verifier]).signatures).to.have.length(1);
      expect(generateSignerKey('example.com/audit/ACME')).to.not.equal(text);
      for (const bad of ['', 'two words', 'a+b', 'tab\there', 'nbsp\u00a0']) {
        expect(refusal(() => generateSignerKey(bad))).to.match(/key name must be non-empty, without spaces or '\+'/);
      }
    });
  });

  describe('signing', () => {
    it('signs byte for byte as Go does', () => {
      expect(signNote(TEXT, parseSignerKey(PETER_SKEY))).to.equal(`${TEXT}\n${PETER_SIG}`);
    });

    it('signs with several keys in the order given, each line what that key alone writes', () => {
      const other = parseSignerKey(generateSignerKey('audit.example'));
      const note = signNote(TEXT, [parseSignerKey(PETER_SKEY), other]);
      const otherLine = signNote(TEXT, other).slice(TEXT.length + 1);
      expect(note).to.equal(`${TEXT}\n${PETER_SIG}${otherLine}`);
      const verifiers = [peter, parseVerifierKey(verifierKeyOf(other))];
      expect(openNote(note, verifiers).signatures.map((s) => s.name)).to.deep.equal(['PeterNeumann', 'audit.example']);
      expect(signNote(TEXT, [parseSignerKey(PETER_SKEY)])).to.equal(`${TEXT}\n${PETER_SIG}`);
    });

    it('refuses no signer, more than 100, and one key twice', () => {
      const signer = parseSignerKey(PETER_SKEY);
      expect(refusal(() => signNote(TEXT, []))).to.equal('a note is signed by 1 to 100 keys, not 0');
      const many = Array.from({ length: 101 }, () => parseSignerKey(generateSignerKey('k')));
      expect(refusal(() => signNote(TEXT, many))).to.equal('a note is signed by 1 to 100 keys, not 101');
      expect(refusal(() => signNote(TEXT, [signer, signer]))).to.equal('key PeterNeumann+c74f20a3 is given twice');
    });

    it('refuses text Go would not open and a signer name Go would not write', () => {
      const signer = parseSignerKey(PETER_SKEY);
      expect(refusal(() => signNote('abc', signer))).to.match(/must end in a newline/);
      expect(refusal(() => signNote('a\tb\n', signer))).to.match(/control characters/);
      expect(refusal(() => signNote('\ud800\n', signer))).to.match(/valid text/);
      expect(refusal(() => signNote(TEXT, { ...signer, name: 'bad name' }))).to.match(/signer name/);
    });
  });

  describe('opening', () => {
    const note = `${TEXT}\n${PETER_SIG}${ENOCH_SIG}`;

    it('verifies the signatures of known keys and lists the others unverified', () => {
      expect(openNote(note, [peter])).to.deep.equal({ text: TEXT, signatures: [PETER], unverified: [ENOCH] });
      expect(openNote(note, [peter, enoch])).to.deep.equal({ text: TEXT, signatures: [PETER, ENOCH], unverified: [] });
      expect(openNote(Buffer.from(note), [enoch]).signatures).to.deep.equal([ENOCH]);
    });

    it('refuses a note no known key has signed', () => {
      expect(refusal(() => openNote(note, []))).to.equal('note has no verifiable signatures');
      expect(refusal(() => openNote(`${TEXT}\n${ENOCH_SIG}`, [peter]))).to.equal('note has no verifiable signatures');
      // Another key of the same name has another id, so it is not Peter's.
      const impostor = parseSignerKey(generateSignerKey('PeterNeumann'));
      expect(refusal(() => openNote(signNote(TEXT, impostor), [peter]))).to.equal('note has no verifiable signatures');
    });

    it('refuses another key’s signature presented under Peter’s name and id', () => {
      const enochSignature = Buffer.from(ENOCH.base64, 'base64').subarray(4);
      const forged = Buffer.concat([Buffer.from('c74f20a3', 'hex'), enochSignature]).toString('base64');
      expect(refusal(() => openNote(`${TEXT}\n— PeterNeumann ${forged}\n`, [peter, enoch]))).to.equal(
        'invalid signature for key PeterNeumann+c74f20a3',
      );
    });

    it('refuses a key two verifiers claim, when a signature needs it', () => {
      expect(refusal(() => openNote(`${TEXT}\n${ENOCH_SIG}`, [enoch, peter, enoch]))).to.equal(
        'ambiguous key EnochRoot+af0cfe78: more than one verifier has it',
      );
      expect(openNote(`${TEXT}\n${PETER_SIG}`, [enoch, peter, enoch]).signatures).to.deep.equal([PETER]);
    });

    it('refuses more than 100 signatures', () => {
      for (const verifiers of [[peter], []]) {
        expect(refusal(() => openNote(`${TEXT}\n${PETER_SIG.repeat(101)}`, verifiers))).to.match(/^malformed note/);
      }
      expect(openNote(`${TEXT}\n${PETER_SIG.repeat(100)}`, [peter]).signatures).to.have.length(1);
    });

    it('refuses an invalid signature by a known key, and keeps only the first signature of each key', () => {
      expect(refusal(() => openNote(`${TEXT}\n${mangled(PETER_SIG)}`, [peter]))).to.equal(
        'invalid signature for key PeterNeumann+c74f20a3',
      );
      const enochABCD = {
        ...ENOCH,
        base64: 'rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5nABCD2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=',
      };
      const repeated = `${TEXT}\n${PETER_SIG}${PETER_SIG}${ENOCH_SIG}${ENOCH_SIG}${mangled(ENOCH_SIG)}`;
      expect(openNote(repeated, [peter])).to.deep.equal({
        text: TEXT,
        signatures: [PETER],
        unverified: [ENOCH, enochABCD],
      });
    });

    it('refuses the malformed notes of Go’s TestOpen', () => {
      const bad: (string | Uint8Array)[] = [
        TEXT,
        `${TEXT}\n`,
        `${TEXT}\n${PETER_SIG.slice(0, -1)}`,
        `\x01${TEXT}\n${PETER_SIG}`,
        Buffer.concat([Buffer.from([0xff]), Buffer.from(`${TEXT}\n${PETER_SIG}`)]),
        `${TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`,
        `${TEXT}\n${PETER_SIG}Unexpected line.\n`,
      ];
      for (const message of bad) expect(refusal(() => openNote(message, [peter]))).to.match(/^malformed note: /);
    });

    it('refuses the note altered in any one byte', () => {
      const signed = Buffer.from(`${TEXT}\n${PETER_SIG}`);
      const opened: number[] = [];
      for (let i = 0; i < signed.length; i++) {
        for (const change of [1, 0x80]) {
          const altered = Buffer.from(signed);
          altered[i] ^= change;
          try {
            openNote(altered, [peter]);
            opened.push(i);
          } catch (error) {
            expect(error).to.be.instanceOf(AuditError);
          }
        }
      }
      expect(opened).to.deep.equal([]);
    });

    it('refuses a signature spelt in non-canonical base64', () => {
      // The last character before '=' carries two padding bits; Buffer's decoder ignores them.
      const respelt = PETER_SIG.replace('nAM=', 'nAN=');
      expect(Buffer.from(respelt.split(' ')[2], 'base64')).to.deep.equal(Buffer.from(PETER.base64, 'base64'));
      expect(refusal(() => openNote(`${TEXT}\n${respelt}`, [peter]))).to.match(/^malformed note: signature line 1/);
    });

    it('opens the note a text of blank lines makes, and one whose text is only a newline', () => {
      const signer = parseSignerKey(PETER_SKEY);
      for (const text of ['\n', 'a\n\nb\n\n', 'é — ✓\n']) {
        expect(openNote(signNote(text, signer), [peter]).text).to.equal(text);
      }
    });

    it('verifies the C2SP signed-note example', () => {
      expect(openNote(C2SP_NOTE, [parseVerifierKey(C2SP_VKEY)]).text).to.equal('This is an example message.\n');
    });
  });

  describe('checkpoints', () => {
    it('formats a checkpoint as Go’s tlog.FormatTree does', () => {
      // golang.org/x/mod/sumdb/tlog/note_test.go TestFormatTree:
      // https://github.com/golang/mod/blob/fe2ec04f7c3c3aa6fad97631aafcff6e49e2d1db/sumdb/tlog/note_test.go
      const tree = {
        origin: 'go.sum database tree',
        size: 123456789012,
        rootHash: leafHash(Buffer.from('hello world')),
      };
      const golden = 'go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n';
      expect(formatCheckpoint(tree)).to.equal(golden);
      expect(parseCheckpoint(golden)).to.deep.equal(tree);
    });

    it('opens a checkpoint sum.golang.org signed, with the key the go command pins', () => {
      const verifier = parseVerifierKey(SUMDB_VKEY);
      const note = SUMDB_CHECKPOINT;
      const checkpoint = parseCheckpoint(openNote(note, [verifier]).text);
      expect(checkpoint.origin).to.equal('go.sum database tree');
      expect(checkpoint.size).to.equal(31700353);
      expect(Buffer.from(checkpoint.rootHash).toString('base64')).to.equal(
        'qINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=',
      );
      expect(refusal(() => openNote(note.replace('31700353', '31700354'), [verifier]))).to.match(/invalid signature/);
    });

    it('signs and opens a checkpoint of our own, extension lines kept', () => {
      const signer = parseSignerKey(generateSignerKey('audit.example/ACME@AdobeOrg'));
      const checkpoint = { origin: 'audit.example/ACME@AdobeOrg', size: 0, rootHash: new Uint8Array(32).fill(7) };
      const note = signNote(formatCheckpoint(checkpoint), signer);
      expect(parseCheckpoint(openNote(note, [parseVerifierKey(verifierKeyOf(signer))]).text)).to.deep.equal(checkpoint);
      const extended = { ...checkpoint, extensions: ['timestamp 1700000000', 'x'] };
      expect(parseCheckpoint(formatCheckpoint(extended))).to.deep.equal(extended);
    });

    it('refuses malformed checkpoint text, naming the problem', () => {
      const root = 'qINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=';
      // The first five from Go's TestParseTree and tessera's TestCheckpointUnsafe, the rest from c2sp.org/tlog-checkpoint.
      const bad: [string, RegExp][] = [
        [`go.sum database tree\n0xabcdef\n${root}\n`, /tree size/],
        ['go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBTOOBIG=\n', /root hash/],
        [`original.example.com\n-42\n${root}\n`, /tree size/],
        ['original.example.com\n42\nthisisnotright\n', /root hash/],
        [`42\n${root}\n`, /fewer than three lines/],
        [`\n42\n${root}\n`, /empty line/],
        [`log\n42\n${root}\n\next\n`, /empty line/],
        [`log\n042\n${root}\n`, /tree size/],
        [`log\n9007199254740992\n${root}\n`, /tree size/],
        [`log\n42\n${root}`, /newline/],
        [`log\n42\n${root.slice(0, -2)}=\n`, /root hash/],
        [`lo\rg\n42\n${root}\n`, /control character/],
      ];
      for (const [text, why] of bad)
        expect(
          refusal(() => parseCheckpoint(text)),
          JSON.stringify(text),
        ).to.match(why);
      expect(parseCheckpoint(`original.example.com\n42\n${root}\n`)).to.include({
        origin: 'original.example.com',
        size: 42,
      });
      // The example of https://github.com/C2SP/C2SP/blob/5ba5ee830903e91240fc6f9f3a7a9293d49e69c9/tlog-checkpoint.md
      const example = parseCheckpoint(
        'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n',
      );
      expect(example).to.include({ origin: 'example.com/behind-the-sofa', size: 20852163 });
      expect(Buffer.from(example.rootHash).toString('hex')).to.equal(
        '0ac5186a91863e8e1d90c808014aa89bf5da8e3ee1d9f07630f0378f68f1ab62',
      );
    });

    it('refuses to format a checkpoint that could not be read back', () => {
      const rootHash = new Uint8Array(32);
      expect(refusal(() => formatCheckpoint({ origin: '', size: 1, rootHash }))).to.match(/origin/);
      expect(refusal(() => formatCheckpoint({ origin: 'a\nb', size: 1, rootHash }))).to.match(/origin/);
      expect(refusal(() => formatCheckpoint({ origin: 'a', size: -1, rootHash }))).to.match(/tree size/);
      expect(refusal(() => formatCheckpoint({ origin: 'a', size: 2 ** 53, rootHash }))).to.match(/tree size/);
      expect(refusal(() => formatCheckpoint({ origin: 'a', size: 1, rootHash: new Uint8Array(31) }))).to.match(/31/);
      expect(refusal(() => formatCheckpoint({ origin: 'a', size: 1, rootHash, extensions: [''] }))).to.match(
        /extension/,
      );
    });
  });
});
