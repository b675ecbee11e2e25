import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import vm from 'node:vm';
import { expect } from 'chai';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import {
  createTreeBuilder,
  leafHashOf,
  originIsForTenant,
  parseVerifierKey,
  rootFromLeafHashes,
  verifyCheckpoint,
  verifyConsistency,
  verifyEventInclusion,
  verifyInclusion,
  verifyNote,
  VerificationError,
  type InclusionProof,
  type StoredAuditEvent,
} from '../src/client/index';
import { buildClient, CLIENT_DIR } from '../scripts/buildClient';
import { consistencyProof, inclusionProof, leafHash, treeHash } from '../src/domain/merkle';
import { treeOf } from './helpers/memoryTree';
import type { HashReader } from '../src/domain/merkle';
import { formatCheckpoint, generateSignerKey, parseSignerKey, signNote, verifierKeyOf } from '../src/domain/note';
import { buildLog } from './helpers/verifiableLog';
import {
  C2SP_NOTE,
  C2SP_VKEY,
  ENOCH_SIG,
  ENOCH_VKEY,
  HAPPY_CONSISTENCY,
  HAPPY_INCLUSION,
  LEAF_INPUTS,
  PETER_SIG,
  PETER_VKEY,
  ROOT_HASHES,
  SUMDB_CHECKPOINT,
  SUMDB_VKEY,
  TEXT,
} from './helpers/vectors';

const run = promisify(execFile);
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const hexOf = (text: string): string => Buffer.from(text, 'base64').toString('hex');
/** The base64 hash with one bit flipped. */
const flip = (hash: string, bit = 0): string => {
  const bytes = Buffer.from(hash, 'base64');
  bytes[bit >> 3] ^= 1 << (bit & 7);
  return bytes.toString('base64');
};

/** The VerificationError a call throws; its message is returned. */
function refusal(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    expect(error).to.be.instanceOf(VerificationError);
    return (error as Error).message;
  }
  throw new Error('expected a VerificationError');
}

/** A tree of the server's own making, leaf i being "leaf i". */
function serverTree(count: number): { leaves: string[]; read: HashReader } {
  const tree = treeOf(count);
  return { leaves: tree.leaves.map(b64), read: tree.read };
}

describe('Client verification: RFC 9162 proofs', () => {
  it('verifies the transparency-dev/merkle happy-path vectors, and none with its root altered', () => {
    for (const p of HAPPY_INCLUSION) {
      const input = {
        leafHash: p.leafHash,
        leafIndex: p.leafIdx,
        treeSize: p.treeSize,
        proof: p.proof,
        rootHash: p.root,
      };
      expect(verifyInclusion(input), p.file).to.equal(true);
      expect(verifyInclusion({ ...input, rootHash: flip(p.root) }), p.file).to.equal(false);
    }
    for (const p of HAPPY_CONSISTENCY) {
      const input = { fromSize: p.size1, toSize: p.size2, fromRoot: p.root1, toRoot: p.root2, proof: p.proof };
      // That vector's "roots" are 12 bytes ("don't care 2"): the client takes only 32-byte hashes.
      const expected = !p.file.includes('sizes-are-equal-one');
      expect(verifyConsistency(input), p.file).to.equal(expected);
      expect(verifyConsistency({ ...input, toRoot: flip(p.root2) }), p.file).to.equal(false);
    }
  });

  it('computes the vectors’ root of every prefix of their 8 leaves, at once and leaf by leaf', () => {
    const leaves = LEAF_INPUTS.map((input) => b64(leafHash(Buffer.from(input, 'hex'))));
    const builder = createTreeBuilder();
    for (let size = 0; size <= 8; size++) {
      expect(hexOf(rootFromLeafHashes(leaves.slice(0, size))), `size ${size}`).to.equal(ROOT_HASHES[size]);
      expect(builder.size).to.equal(size);
      expect(hexOf(builder.root()), `builder, size ${size}`).to.equal(ROOT_HASHES[size]);
      if (size < 8) builder.append(leaves[size]);
    }
    expect(refusal(() => rootFromLeafHashes(['AAAA']))).to.match(/not 32 bytes/);
  });

  describe('every proof the server makes, over many tree sizes', () => {
    const SIZES = [...Array.from({ length: 40 }, (_, i) => i + 1), 63, 64, 65, 127, 128, 129, 1000, 1025];
    const { leaves, read } = serverTree(2 * Math.max(...SIZES) + 2);
    const roots = new Map<number, string>();
    const rootAt = (size: number) => roots.get(size) ?? roots.set(size, b64(treeHash(size, read))).get(size)!;
    const sample = (n: number) =>
      n <= 40
        ? Array.from({ length: n }, (_, i) => i)
        : [0, 1, n >> 1, n - 2, n - 1, ...[3, 37, 511].filter((i) => i < n)];

    it('roots from the leaves agree with the server’s tree hash', () => {
      for (const size of [0, ...SIZES])
        expect(rootFromLeafHashes(leaves.slice(0, size)), `size ${size}`).to.equal(rootAt(size));
    });

    it('verifies every inclusion proof, and none with a hash, index or size altered', () => {
      let checked = 0;
      for (const size of SIZES) {
        const rootHash = rootAt(size);
        for (const leafIndex of sample(size)) {
          const proof = inclusionProof(leafIndex, size, read).map(b64);
          const good = { leafHash: leaves[leafIndex], leafIndex, treeSize: size, proof, rootHash };
          const at = `leaf ${leafIndex} of ${size}`;
          expect(verifyInclusion(good), at).to.equal(true);
          proof.forEach((_, i) => {
            const bad = proof.map((h, j) => (j === i ? flip(h, 8 * i + 3) : h));
            expect(verifyInclusion({ ...good, proof: bad }), `${at}, proof[${i}] altered`).to.equal(false);
          });
          expect(verifyInclusion({ ...good, leafHash: flip(good.leafHash) }), `${at}, leaf altered`).to.equal(false);
          expect(verifyInclusion({ ...good, rootHash: flip(rootHash, 255) }), `${at}, root altered`).to.equal(false);
          for (const other of [leafIndex - 1, leafIndex + 1, leafIndex ^ 1]) {
            if (other === leafIndex) continue;
            expect(verifyInclusion({ ...good, leafIndex: other }), `${at} as index ${other}`).to.equal(false);
          }
          // The root does not commit to the size: a changed size is checked against that size's real root.
          for (const other of [size - 1, size + 1, 2 * size]) {
            const claim = { ...good, treeSize: other, rootHash: rootAt(other) };
            expect(verifyInclusion(claim), `${at} as size ${other}`).to.equal(false);
          }
          if (proof.length > 0)
            expect(verifyInclusion({ ...good, proof: proof.slice(1) }), `${at}, shortened`).to.equal(false);
          expect(verifyInclusion({ ...good, proof: [...proof, rootHash] }), `${at}, lengthened`).to.equal(false);
          checked++;
        }
      }
      expect(checked).to.be.greaterThan(800);
    });

    it('verifies every consistency proof, and none with a hash or a size altered', () => {
      let checked = 0;
      for (const n of SIZES) {
        for (const m of sample(n).map((i) => i + 1)) {
          const proof = consistencyProof(m, n, read).map(b64);
          const good = { fromSize: m, toSize: n, fromRoot: rootAt(m), toRoot: rootAt(n), proof };
          const at = `${m} → ${n}`;
          expect(verifyConsistency(good), at).to.equal(true);
          proof.forEach((_, i) => {
            const bad = proof.map((h, j) => (j === i ? flip(h, 8 * i + 5) : h));
            expect(verifyConsistency({ ...good, proof: bad }), `${at}, proof[${i}] altered`).to.equal(false);
          });
          expect(verifyConsistency({ ...good, fromRoot: flip(good.fromRoot) }), `${at}, first root`).to.equal(false);
          expect(verifyConsistency({ ...good, toRoot: flip(good.toRoot) }), `${at}, second root`).to.equal(false);
          for (const [m2, n2] of [
            [m - 1, n],
            [m + 1, n],
            [m, n - 1],
            [m, n + 1],
          ]) {
            const claim = { ...good, fromSize: m2, toSize: n2, fromRoot: rootAt(m2), toRoot: rootAt(n2) };
            expect(verifyConsistency(claim), `${at} as ${m2} → ${n2}`).to.equal(false);
          }
          if (m < n) expect(verifyConsistency({ ...good, proof: proof.slice(1) }), `${at}, shortened`).to.equal(false);
          checked++;
        }
      }
      expect(checked).to.be.greaterThan(800);
    });
  });

  it('answers false, never throws, for malformed input', () => {
    const p = HAPPY_INCLUSION[2];
    const good = { leafHash: p.leafHash, leafIndex: p.leafIdx, treeSize: p.treeSize, proof: p.proof, rootHash: p.root };
    expect(verifyInclusion(good)).to.equal(true);
    const respelt = p.root.replace(/.=$/, (last) => String.fromCharCode(last.charCodeAt(0) + 1) + '=');
    expect(Buffer.from(respelt, 'base64')).to.deep.equal(Buffer.from(p.root, 'base64')); // padding bits only
    const bad: unknown[] = [
      undefined,
      null,
      'x',
      {},
      { ...good, leafIndex: -1 },
      { ...good, leafIndex: 1.5 },
      { ...good, leafIndex: '5' },
      { ...good, treeSize: 2 ** 53 },
      { ...good, treeSize: Number.NaN },
      { ...good, leafHash: 'not base64!' },
      { ...good, leafHash: p.leafHash.slice(0, -4) },
      { ...good, rootHash: respelt },
      { ...good, rootHash: ` ${p.root}` },
      { ...good, proof: 'abc' },
      { ...good, proof: [null] },
      { ...good, proof: [...p.proof.slice(0, -1), 42] },
    ];
    for (const input of bad) expect(verifyInclusion(input as typeof good), JSON.stringify(input)).to.equal(false);
    const c = HAPPY_CONSISTENCY[2];
    const consistent = { fromSize: c.size1, toSize: c.size2, fromRoot: c.root1, toRoot: c.root2, proof: c.proof };
    expect(verifyConsistency(consistent)).to.equal(true);
    for (const input of [
      null,
      {},
      { ...consistent, fromSize: 0 },
      { ...consistent, fromSize: 9 },
      { ...consistent, proof: {} },
    ]) {
      expect(verifyConsistency(input as typeof consistent), JSON.stringify(input)).to.equal(false);
    }
  });
});

describe('Client verification: signed checkpoints', () => {
  const signer = parseSignerKey(generateSignerKey('audit.example'));
  const key = verifierKeyOf(signer);
  const root = b64(leafHash(Buffer.from('a root')));
  const text = formatCheckpoint({
    origin: 'audit.example/ACME@AdobeOrg',
    size: 42,
    rootHash: Buffer.from(root, 'base64'),
  });
  const note = signNote(text, signer);

  it('verifies a checkpoint the server’s note.ts signs, with its key as text or parsed', () => {
    const expected = {
      origin: 'audit.example/ACME@AdobeOrg',
      treeSize: 42,
      rootHash: root,
      keyName: 'audit.example',
      keyId: signer.keyId.toString(16).padStart(8, '0'),
      extensions: [],
    };
    expect(verifyCheckpoint(note, [key])).to.deep.equal(expected);
    expect(verifyCheckpoint(note, [parseVerifierKey(key)])).to.deep.equal(expected);
    expect(verifyCheckpoint(Buffer.from(note), [key])).to.deep.equal(expected);
    const extended = signNote(`${text}timestamp 1700000000\n`, signer);
    expect(verifyCheckpoint(extended, [key]).extensions).to.deep.equal(['timestamp 1700000000']);
  });

  it('refuses the checkpoint altered in any one byte', () => {
    const bytes = Buffer.from(note);
    const accepted: number[] = [];
    for (let i = 0; i < bytes.length; i++) {
      for (const change of [1, 0x80]) {
        const altered = Buffer.from(bytes);
        altered[i] ^= change;
        try {
          verifyCheckpoint(altered, [key]);
          accepted.push(i);
        } catch (error) {
          expect(error).to.be.instanceOf(VerificationError);
        }
      }
    }
    expect(accepted).to.deep.equal([]);
  });

  it('refuses a checkpoint signed by another key, also one of the same name', () => {
    const other = parseSignerKey(generateSignerKey('audit.example'));
    expect(refusal(() => verifyCheckpoint(signNote(text, other), [key]))).to.equal(
      'the checkpoint is not signed by any of the given keys',
    );
    expect(refusal(() => verifyCheckpoint(note, []))).to.equal('the checkpoint is not signed by any of the given keys');
    // Another key's signature presented under this key's name and id.
    const forged = note.replace(/ (\S+)\n$/, (_, sig: string) => {
      const bytes = Buffer.from(sig, 'base64');
      Buffer.from(signNote(text, other).split(' ').at(-1)!, 'base64').copy(bytes, 4, 4);
      return ` ${bytes.toString('base64')}\n`;
    });
    expect(refusal(() => verifyCheckpoint(forged, [key]))).to.match(
      /^the checkpoint's signature by key audit\.example\+[0-9a-f]{8} does not verify/,
    );
    // With both keys, both sign during a rotation: either key alone verifies it.
    const cosigned = `${note}${signNote(text, other).split('\n\n')[1]}`;
    expect(verifyCheckpoint(cosigned, [verifierKeyOf(other)]).keyId).to.equal(
      other.keyId.toString(16).padStart(8, '0'),
    );
    expect(verifyCheckpoint(cosigned, [key, verifierKeyOf(other)]).keyName).to.equal('audit.example');
  });

  it('refuses malformed checkpoint text, naming the problem', () => {
    const cases: [string, RegExp][] = [
      [`log\n042\n${root}\n`, /tree size/],
      [`log\n9007199254740992\n${root}\n`, /tree size/],
      [`log\n42\nthisisnotright\n`, /root hash/],
      [`42\n${root}\n`, /fewer than three lines/],
      [`log\n42\n${root}\n\next\n`, /empty line/],
    ];
    for (const [body, why] of cases)
      expect(
        refusal(() => verifyCheckpoint(signNote(body, signer), [key])),
        body,
      ).to.match(why);
  });

  describe('Go’s sumdb/note vectors', () => {
    const peterNote = `${TEXT}\n${PETER_SIG}`;
    const mangled = (line: string) => line.slice(0, 58) + 'ABCD' + line.slice(58);

    it('reads Go’s verifier keys, and refuses every part and one-character change of one', () => {
      expect(parseVerifierKey(PETER_VKEY)).to.include({ name: 'PeterNeumann', keyId: 'c74f20a3' });
      expect(parseVerifierKey(ENOCH_VKEY)).to.include({ name: 'EnochRoot', keyId: 'af0cfe78' });
      const accepted: string[] = [];
      const attempt = (text: string) => {
        try {
          parseVerifierKey(text);
          accepted.push(text);
        } catch (error) {
          expect(error).to.be.instanceOf(VerificationError);
        }
      };
      for (let i = 0; i <= PETER_VKEY.length; i++) {
        for (let j = i + 1; j <= PETER_VKEY.length; j++)
          if (i !== 0 || j !== PETER_VKEY.length) attempt(PETER_VKEY.slice(i, j));
      }
      for (let i = 0; i < PETER_VKEY.length; i++) {
        attempt(PETER_VKEY.slice(0, i) + String.fromCharCode(PETER_VKEY.charCodeAt(i) + 1) + PETER_VKEY.slice(i + 1));
      }
      expect(accepted).to.deep.equal([]);
      expect(
        refusal(() => parseVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')),
      ).to.match(/unknown verifier key algorithm/);
    });

    it('verifies Go’s signatures, ignores unknown keys and refuses a mangled signature by a known one', () => {
      expect(verifyNote(peterNote, [PETER_VKEY])).to.deep.equal({
        text: TEXT,
        keyName: 'PeterNeumann',
        keyId: 'c74f20a3',
      });
      const both = `${TEXT}\n${PETER_SIG}${ENOCH_SIG}`;
      expect(verifyNote(both, [ENOCH_VKEY]).keyName).to.equal('EnochRoot');
      expect(verifyNote(both, [ENOCH_VKEY, PETER_VKEY]).keyName).to.equal('PeterNeumann');
      expect(refusal(() => verifyNote(`${TEXT}\n${mangled(PETER_SIG)}`, [PETER_VKEY]))).to.equal(
        "the note's signature by key PeterNeumann+c74f20a3 does not verify: it was altered or forged",
      );
      // Only a key's first signature counts, as in Go; a mangled one by an unknown key is ignored.
      expect(
        verifyNote(`${TEXT}\n${PETER_SIG}${mangled(PETER_SIG)}${mangled(ENOCH_SIG)}`, [PETER_VKEY]).keyName,
      ).to.equal('PeterNeumann');
      expect(refusal(() => verifyNote(`${TEXT}\n${ENOCH_SIG}`, [PETER_VKEY]))).to.equal(
        'the note is not signed by any of the given keys',
      );
      expect(refusal(() => verifyNote(`${TEXT}\n${ENOCH_SIG}`, [ENOCH_VKEY, PETER_VKEY, ENOCH_VKEY]))).to.match(
        /^ambiguous key/,
      );
      expect(refusal(() => verifyNote(`${TEXT}\n${PETER_SIG.repeat(101)}`, [PETER_VKEY]))).to.match(/more than 100/);
      expect(verifyNote(`${TEXT}\n${PETER_SIG.repeat(100)}`, [PETER_VKEY]).keyName).to.equal('PeterNeumann');
      // The text is signed but is not a checkpoint.
      expect(refusal(() => verifyCheckpoint(peterNote, [PETER_VKEY]))).to.equal(
        'malformed checkpoint: it has fewer than three lines',
      );
    });

    it('refuses the malformed notes of Go’s TestOpen, and any one-byte change of Peter’s note', () => {
      const bad: (string | Uint8Array)[] = [
        TEXT,
        `${TEXT}\n`,
        `${TEXT}\n${PETER_SIG.slice(0, -1)}`,
        `\x01${TEXT}\n${PETER_SIG}`,
        Buffer.concat([Buffer.from([0xff]), Buffer.from(peterNote)]),
        `${TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`,
        `${TEXT}\n${PETER_SIG}Unexpected line.\n`,
        `${TEXT}\n${PETER_SIG.replace('nAM=', 'nAN=')}`, // the same bytes in non-canonical base64
        `\ud800${peterNote}`,
      ];
      for (const message of bad) expect(refusal(() => verifyNote(message, [PETER_VKEY]))).to.match(/^malformed note: /);
      const bytes = Buffer.from(peterNote);
      const opened: number[] = [];
      for (let i = 0; i < bytes.length; i++) {
        const altered = Buffer.from(bytes);
        altered[i] ^= 1;
        try {
          verifyNote(altered, [PETER_VKEY]);
          opened.push(i);
        } catch (error) {
          expect(error).to.be.instanceOf(VerificationError);
        }
      }
      expect(opened).to.deep.equal([]);
    });

    it('verifies the checkpoint sum.golang.org signed and the C2SP example', () => {
      expect(verifyCheckpoint(SUMDB_CHECKPOINT, [SUMDB_VKEY])).to.deep.equal({
        origin: 'go.sum database tree',
        treeSize: 31700353,
        rootHash: 'qINS1GRFhWHwdkUeqLEoP4yEMkTBBzxBkGwGQlVlVcs=',
        keyName: 'sum.golang.org',
        keyId: '033de0ae',
        extensions: [],
      });
      expect(refusal(() => verifyCheckpoint(SUMDB_CHECKPOINT.replace('31700353', '31700354'), [SUMDB_VKEY]))).to.match(
        /does not verify/,
      );
      expect(verifyNote(C2SP_NOTE, [C2SP_VKEY]).text).to.equal('This is an example message.\n');
    });
  });

  it('refuses keys that are neither key text nor a parsed key', () => {
    const parsed = parseVerifierKey(key);
    for (const bad of [null, 42, { ...parsed, keyId: '00000000' }, { ...parsed, publicKey: new Uint8Array(31) }]) {
      expect(refusal(() => verifyCheckpoint(note, [bad as never]))).to.match(/verifier key/);
    }
    expect(refusal(() => verifyCheckpoint(note, 'key' as never))).to.match(/list/);
  });

  it('matches origins to tenants as the spec escapes them', () => {
    expect(originIsForTenant('audit.example/ACME@AdobeOrg', 'ACME@AdobeOrg')).to.equal(true);
    expect(originIsForTenant('audit.example/a%20b%2B%C3%A9', 'a b+é')).to.equal(true);
    expect(originIsForTenant('audit.example/a b+é', 'a b+é')).to.equal(false);
    expect(originIsForTenant('audit.example/XACME@AdobeOrg', 'ACME@AdobeOrg')).to.equal(false);
    expect(originIsForTenant('/ACME@AdobeOrg', 'ACME@AdobeOrg')).to.equal(false);
  });
});

describe('Client verification: leaf hashes', () => {
  // Salts and values chosen by hand; the expected leaf is written out without the client's code.
  const saltA = Buffer.alloc(16, 0xa1);
  const saltB = Buffer.alloc(16, 0xb2);
  const saltC = Buffer.alloc(16, 0xc3);
  const sha = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
  const commit = (salt: Buffer, value: string) => sha(salt, Buffer.from(value, 'utf8')).toString('base64');
  const event: StoredAuditEvent = {
    id: '01933b1e-7c4a-7d2e-9b1a-2f4e5d6c7b8a',
    imsOrgId: 'ACME@AdobeOrg',
    seq: 42,
    action: 'update',
    source: 'marketingcloud',
    service: { serviceId: 'SKMS-1234' },
    resource: { resourceId: 'stream/42' },
    userIdentifier: 'jané.doe@example.com',
    timestamp: '2017-10-31T00:02:04.232Z',
    receivedAt: '2017-10-31T00:02:04.517Z',
    tags: { zeta: 'z', Alpha: '"quoted"\n' },
    salts: {
      userIdentifier: saltA.toString('base64'),
      tags: { zeta: saltB.toString('base64'), Alpha: saltC.toString('base64') },
    },
    leafHash: 'ignored',
  };
  const canonical =
    `{"action":"update","id":"01933b1e-7c4a-7d2e-9b1a-2f4e5d6c7b8a","imsOrgId":"ACME@AdobeOrg",` +
    `"receivedAt":"2017-10-31T00:02:04.517Z","resource":{"resourceId":"stream/42"},"seq":42,` +
    `"service":{"serviceId":"SKMS-1234"},"source":"marketingcloud",` +
    `"tags":{"Alpha":"${commit(saltC, '"quoted"\n')}","zeta":"${commit(saltB, 'z')}"},` +
    `"timestamp":"2017-10-31T00:02:04.232Z","userIdentifier":"${commit(saltA, 'jané.doe@example.com')}"}`;
  const expected = sha(Buffer.from([0]), Buffer.from(canonical, 'utf8')).toString('base64');

  it('recomputes a hand-built event’s leaf hash', () => {
    expect(leafHashOf(event)).to.equal(expected);
    const { tags: _tags, ...untagged } = event;
    const noTags = { ...untagged, salts: { userIdentifier: event.salts.userIdentifier } };
    const canonicalNoTags = canonical.replace(/"tags":\{[^}]*\},/, '');
    expect(leafHashOf(noTags)).to.equal(sha(Buffer.from([0]), Buffer.from(canonicalNoTags)).toString('base64'));
  });

  it('changes with every field, value and salt', () => {
    const variants: StoredAuditEvent[] = [
      { ...event, seq: 43 },
      { ...event, receivedAt: '2017-10-31T00:02:04.518Z' },
      { ...event, resource: { resourceId: 'stream/43' } },
      { ...event, userIdentifier: 'jane.doe@example.com' },
      { ...event, tags: { ...event.tags, zeta: 'y' } },
      { ...event, salts: { ...event.salts, userIdentifier: saltB.toString('base64') } },
    ];
    for (const variant of variants) expect(leafHashOf(variant), JSON.stringify(variant)).to.not.equal(expected);
    expect(leafHashOf({ ...event, leafHash: 'other' })).to.equal(expected);
    // Every member as served is hashed, one JSON.parse makes of "__proto__" too.
    const extra = JSON.parse(JSON.stringify(event).replace('{', '{"__proto__":{"x":1},')) as StoredAuditEvent;
    expect(Object.hasOwn(extra, '__proto__')).to.equal(true);
    expect(leafHashOf(extra)).to.not.equal(expected);
  });

  it('refuses an event whose salts are missing or malformed, naming the field', () => {
    const { salts } = event;
    const cases: [unknown, RegExp][] = [
      [{ ...event, salts: undefined }, /no salts/],
      [{ ...event, salts: { tags: salts.tags } }, /salts\.userIdentifier is missing/],
      [
        { ...event, salts: { ...salts, userIdentifier: Buffer.alloc(15).toString('base64') } },
        /salts\.userIdentifier is not 16 bytes/,
      ],
      [{ ...event, salts: { ...salts, userIdentifier: 'not base64' } }, /salts\.userIdentifier is not 16 bytes/],
      [{ ...event, salts: { userIdentifier: salts.userIdentifier } }, /salts\.tags\.zeta is missing/],
      [{ ...event, salts: { ...salts, tags: { ...salts.tags, Alpha: 7 } } }, /salts\.tags\.Alpha is not 16 bytes/],
      [
        { ...event, salts: { ...salts, tags: { ...salts.tags, extra: salts.userIdentifier } } },
        /salts\.tags\.extra is the salt of a tag/,
      ],
      [{ ...event, userIdentifier: 7 }, /userIdentifier is not a string/],
      [{ ...event, tags: { constructor: 'x' } }, /salts\.tags\.constructor is missing/],
      [{ ...event, deep: JSON.parse('['.repeat(5000) + ']'.repeat(5000)) as unknown }, /nested more than 32 levels/],
      [null, /not a JSON object/],
    ];
    for (const [bad, why] of cases)
      expect(
        refusal(() => leafHashOf(bad as StoredAuditEvent)),
        why.source,
      ).to.match(why);
  });
});

describe('Client verification: an event’s inclusion, as a viewer’s Verify button checks it', () => {
  const log = buildLog('ACME@AdobeOrg', 13);
  const proofOf = (seq: number, size = 13): InclusionProof => ({
    leafIndex: seq - 1,
    treeSize: size,
    leafHash: log.events[seq - 1].leafHash,
    inclusionProof: log.proof(seq, size),
    checkpoint: log.checkpoint(size),
  });

  it('verifies every event in trees of every size that holds it', () => {
    for (let size = 1; size <= 13; size++) {
      for (let seq = 1; seq <= size; seq++) {
        const result = verifyEventInclusion(log.events[seq - 1], proofOf(seq, size), [log.verifierKey]);
        expect(result).to.deep.include({ treeSize: size, rootHash: log.root(size), keyName: 'audit.example' });
      }
    }
  });

  it('refuses, saying why, whatever does not hold', () => {
    const event = log.events[6];
    const proof = proofOf(7);
    const otherKey = verifierKeyOf(parseSignerKey(generateSignerKey('audit.example')));
    const otherTenant = buildLog('Other@AdobeOrg', 13);
    const cases: [StoredAuditEvent, InclusionProof, RegExp][] = [
      [event, proof, /^$/], // replaced below by the passing check
      [{ ...event, action: 'create' }, proof, /content does not match its leaf hash: it was changed/],
      [{ ...event, userIdentifier: 'mallory@example.com' }, proof, /content does not match its leaf hash/],
      [event, { ...proof, leafHash: log.events[5].leafHash }, /proof is for another event/],
      [event, { ...proof, leafIndex: 5 }, /proof is for position 5, but the event's seq 7 puts it at 6/],
      [event, { ...proof, treeSize: 12 }, /checkpoint is for a tree of 13 events, but the proof is for 12/],
      [event, { ...proof, checkpoint: log.checkpoint(12), treeSize: 12 }, /does not lead to the checkpoint's root/],
      [
        event,
        { ...proof, inclusionProof: proof.inclusionProof.map((h, i) => (i === 1 ? flip(h) : h)) },
        /does not lead/,
      ],
      [event, { ...proof, checkpoint: proof.checkpoint.replace('\n13\n', '\n14\n') }, /signature .* does not verify/],
      [event, { ...proof, checkpoint: otherTenant.checkpoint() }, /not signed by any of the given keys/],
      [{ ...event, salts: { userIdentifier: event.salts.userIdentifier } }, proof, /salts\.tags\.region is missing/],
    ];
    expect(() => verifyEventInclusion(event, proof, [log.verifierKey])).to.not.throw();
    for (const [e, p, why] of cases.slice(1)) {
      expect(
        refusal(() => verifyEventInclusion(e, p, [log.verifierKey])),
        why.source,
      ).to.match(why);
    }
    expect(refusal(() => verifyEventInclusion(event, proof, [otherKey]))).to.match(
      /not signed by any of the given keys/,
    );
    // Another tenant's checkpoint, signed by the same key: the origin names the wrong tenant.
    const shared = generateSignerKey('audit.example');
    const a = buildLog('ACME@AdobeOrg', 3, { signerKey: shared });
    const b = buildLog('Other@AdobeOrg', 3, { signerKey: shared });
    const crossed = {
      leafIndex: 0,
      treeSize: 3,
      leafHash: a.events[0].leafHash,
      inclusionProof: a.proof(1, 3),
      checkpoint: b.checkpoint(3),
    };
    expect(refusal(() => verifyEventInclusion(a.events[0], crossed, [a.verifierKey]))).to.match(
      /checkpoint is of the log audit\.example\/Other@AdobeOrg, not of tenant ACME@AdobeOrg's log/,
    );
    for (const [e, p] of [
      [null, proof],
      [event, null],
      [event, { ...proof, checkpoint: undefined }],
      [{ ...event, seq: '7' }, proof],
    ]) {
      expect(
        refusal(() => verifyEventInclusion(e as StoredAuditEvent, p as InclusionProof, [log.verifierKey])),
      ).to.be.a('string');
    }
  });
});

// The package as other teams get it: built, loaded by CommonJS without require(esm), by ESM, and
// bundled for a browser, where it runs with web globals only.
describe('Client verification: the built package', function () {
  this.timeout(120_000);
  const log = buildLog('ACME@AdobeOrg', 5);
  const fixture = {
    event: log.events[2],
    proof: {
      leafIndex: 2,
      treeSize: 5,
      leafHash: log.events[2].leafHash,
      inclusionProof: log.proof(3),
      checkpoint: log.checkpoint(),
    },
    key: log.verifierKey,
    leaves: log.events.map((e) => e.leafHash),
    root: log.root(),
  };
  /** Verifies the fixture with the module `v` and prints the outcome as JSON. */
  const CHECK = `const r = v.verifyEventInclusion(f.event, f.proof, [f.key]);
    let refused = '';
    try { v.verifyEventInclusion({ ...f.event, action: 'x' }, f.proof, [f.key]); } catch (e) { refused = e.name + ': ' + e.message; }
    const out = JSON.stringify({ r, refused, root: v.rootFromLeafHashes(f.leaves) === f.root });`;
  const expectOutcome = (json: string) => {
    const { r, refused, root } = JSON.parse(json) as { r: object; refused: string; root: boolean };
    expect(r).to.deep.include({ treeSize: 5, rootHash: log.root(), keyName: 'audit.example' });
    expect(refused).to.match(/^VerificationError: the event's content does not match/);
    expect(root).to.equal(true);
  };
  let iife: string;

  before(async () => {
    await buildClient();
    const bundled = await build({
      stdin: { contents: "export * from './dist/esm/index.js';", resolveDir: CLIENT_DIR },
      bundle: true,
      platform: 'browser',
      format: 'iife',
      globalName: 'AuditClient',
      write: false,
      logLevel: 'silent',
    });
    iife = bundled.outputFiles[0].text;
  });

  it('CommonJS: loads on Node 20 without require(esm), noble bundled in, and verifies', async () => {
    const cjs = readFileSync(path.join(CLIENT_DIR, 'dist/cjs/index.js'), 'utf8');
    expect(cjs).to.not.match(/require\(["']@noble/);
    const script = `const v = require(${JSON.stringify(path.join(CLIENT_DIR, 'dist/cjs/index.js'))});
      const f = ${JSON.stringify(fixture)}; ${CHECK} console.log(out);`;
    const { stdout } = await run(process.execPath, ['--no-experimental-require-module', '-e', script]);
    expectOutcome(stdout);
  });

  it('ESM: imports noble from its dependencies, and verifies', async () => {
    const manifest = JSON.parse(readFileSync(path.join(CLIENT_DIR, 'package.json'), 'utf8')) as {
      dependencies: object;
    };
    const root = JSON.parse(readFileSync(path.join(CLIENT_DIR, '../../package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(manifest.dependencies).to.deep.include({
      '@noble/hashes': root.dependencies['@noble/hashes'],
      '@noble/curves': root.dependencies['@noble/curves'],
    });
    const url = new URL(`file://${path.join(CLIENT_DIR, 'dist/esm/index.js')}`).href;
    const script = `const v = await import(${JSON.stringify(url)}); const f = ${JSON.stringify(fixture)}; ${CHECK} console.log(out);`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script]);
    expectOutcome(stdout);
  });

  it('a browser bundle runs with web globals only (no require, process or Buffer)', () => {
    expect(iife).to.not.match(/\brequire\(|from ["']node:/);
    const context = vm.createContext({ atob, btoa, TextEncoder, TextDecoder, f: fixture, out: '' });
    vm.runInContext(`${iife}; const v = AuditClient; ${CHECK} globalThis.out = out;`, context);
    expectOutcome(context.out as string);
  });

  describe('in headless Chromium', () => {
    const CHROMIUM = '/usr/bin/chromium';
    let browser: Browser | undefined;
    before(async function () {
      if (!existsSync(CHROMIUM)) {
        if (process.env.CI)
          throw new Error(`${CHROMIUM} is missing: CI must run the browser test (.ci/run installs it)`);
        console.log(
          `\n  SKIPPED: the client's browser verification test needs ${CHROMIUM} (apt-get install chromium)\n`,
        );
        this.skip();
      }
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
      });
    });
    after(() => browser?.close());

    it('verifies an event and its proof in the page', async () => {
      const page = await browser!.newPage();
      await page.setContent('<!doctype html><title>verify</title>');
      await page.addScriptTag({ content: iife });
      const out = await page.evaluate(
        `(() => { const v = globalThis.AuditClient; const f = ${JSON.stringify(fixture)}; ${CHECK} return out; })()`,
      );
      expectOutcome(out as string);
    });
  });
});
