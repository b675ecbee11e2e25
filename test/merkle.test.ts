import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { AuditError } from '../src/domain/errors';
import {
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  leafHash,
  nodeHash,
  nodesForConsistencyProof,
  nodesForInclusionProof,
  nodesForTreeHash,
  rootFromLeaves,
  treeHash,
  verifyConsistency,
  verifyInclusion,
  type Hash,
  type HashReader,
  type NodeId,
  appendLeaf,
  EMPTY_FRONTIER,
  type Frontier,
  frontierRoot,
  isTileLevel,
  tiledHashes,
  tileRanges,
} from '../src/domain/merkle';
import { MemoryTree, treeOf } from './helpers/memoryTree';
import { HAPPY_CONSISTENCY, HAPPY_INCLUSION, LEAF_INPUTS, NODE_HASHES, ROOT_HASHES } from './helpers/vectors';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const unhex = (text: string): Hash => new Uint8Array(Buffer.from(text, 'hex'));
const unbase64 = (text: string): Hash => new Uint8Array(Buffer.from(text, 'base64'));
const flipped = (hash: Hash, bit = 0): Hash => hash.map((byte, i) => (i === bit >> 3 ? byte ^ (1 << (bit & 7)) : byte));

describe('Merkle tree (RFC 9162 §2.1)', () => {
  describe('hashes', () => {
    const leaves = LEAF_INPUTS.map((input) => leafHash(unhex(input)));

    it('hashes leaves, nodes and the empty tree as the transparency-dev/merkle vectors do', () => {
      expect(hex(EMPTY_ROOT)).to.equal(ROOT_HASHES[0]);
      expect(leaves.map(hex)).to.deep.equal(NODE_HASHES[0]);
      expect(hex(nodeHash(leaves[0], leaves[1]))).to.equal(NODE_HASHES[1][0]);
      expect(hex(nodeHash(leaves[1], leaves[0]))).to.not.equal(NODE_HASHES[1][0]);
    });

    it('gives the vectors’ root for every prefix of the 8 leaves, from the leaves and from the store', () => {
      const tree = new MemoryTree();
      for (let size = 0; size <= 8; size++) {
        expect(hex(rootFromLeaves(leaves.slice(0, size))), `rootFromLeaves, size ${size}`).to.equal(ROOT_HASHES[size]);
        expect(hex(treeHash(size, tree.read)), `treeHash, size ${size}`).to.equal(ROOT_HASHES[size]);
        if (size < 8) tree.append(leaves[size]);
      }
    });

    it('stores exactly the hash of every complete subtree, as the vectors list them by level and index', () => {
      const tree = new MemoryTree();
      leaves.forEach((leaf) => tree.append(leaf));
      const byNode = (a: NodeId, b: NodeId) => a.level - b.level || a.index - b.index;
      const stored = [...tree.nodes].map(([key, hash]) => {
        const [level, index] = key.split('/').map(Number);
        return { level, index, hash: hex(hash) };
      });
      const expected = NODE_HASHES.flatMap((row, level) => row.map((hash, index) => ({ level, index, hash })));
      expect(stored.sort(byNode)).to.deep.equal(expected.sort(byNode));
    });
  });

  describe('transparency-dev/merkle happy-path vectors', () => {
    const b64 = (text: string) => unbase64(text);
    const proof = (list: string[]) => list.map(unbase64);

    it('verifies each of them, and none with its root altered', () => {
      for (const p of HAPPY_INCLUSION) {
        expect(verifyInclusion(p.leafIdx, p.treeSize, b64(p.leafHash), proof(p.proof), b64(p.root)), p.file).to.equal(
          true,
        );
        const other = b64(p.root);
        other[0] ^= 1;
        expect(verifyInclusion(p.leafIdx, p.treeSize, b64(p.leafHash), proof(p.proof), other), p.file).to.equal(false);
      }
      for (const p of HAPPY_CONSISTENCY) {
        expect(verifyConsistency(p.size1, p.size2, b64(p.root1), b64(p.root2), proof(p.proof)), p.file).to.equal(true);
        const other = b64(p.root2);
        other[0] ^= 1;
        expect(verifyConsistency(p.size1, p.size2, b64(p.root1), other, proof(p.proof)), p.file).to.equal(false);
      }
    });

    it('builds their proofs byte for byte', () => {
      const tree = new MemoryTree();
      LEAF_INPUTS.forEach((input) => tree.append(leafHash(unhex(input))));
      for (const p of HAPPY_INCLUSION) {
        expect(inclusionProof(p.leafIdx, p.treeSize, tree.read).map(hex), p.file).to.deep.equal(
          proof(p.proof).map(hex),
        );
      }
      for (const p of HAPPY_CONSISTENCY) {
        expect(consistencyProof(p.size1, p.size2, tree.read).map(hex), p.file).to.deep.equal(proof(p.proof).map(hex));
      }
    });
  });

  describe('subtree test vectors of draft-ietf-plants-merkle-tree-certs', () => {
    // Rolling SHA-256 digests from transparency-dev/merkle testonly/vectors_test.go (commit 417fb0c),
    // over the tree of 130 leaves d[i] = byte i. A subtree [start, end) with start = 0 is an RFC 9162
    // tree of `end` leaves, and any other valid subtree is one too, offset by start.
    const MAX = 130;
    const tree = treeOf(MAX, (i) => Buffer.from([i]));
    const isValid = (start: number, end: number) => start === 0 || start === end || start % bitCeil(end - start) === 0;
    const bitCeil = (n: number) => 2 ** Math.ceil(Math.log2(n));
    const offset =
      (start: number): HashReader =>
      (ids) =>
        tree.read(ids.map(({ level, index }) => ({ level, index: index + start / 2 ** level })));

    it('matches the subtree hash vector', () => {
      const digest = createHash('sha256');
      for (let end = 0; end <= MAX; end++) {
        for (let start = 0; start <= end; start++) {
          if (!isValid(start, end)) continue;
          digest.update(`[${start}, ${end}) ${hex(rootFromLeaves(tree.leaves.slice(start, end)))}\n`);
        }
      }
      expect(digest.digest('hex')).to.equal('b82806ad4265bb151c1119c0f4db437bb4d1a1f887b3a7fba1cd4ebf552e3e81');
    });

    it('matches the subtree inclusion proof vector', () => {
      const digest = createHash('sha256');
      for (let end = 0; end <= MAX; end++) {
        for (let start = 0; start <= end; start++) {
          if (!isValid(start, end)) continue;
          for (let index = start; index < end; index++) {
            const proof = inclusionProof(index - start, end - start, offset(start));
            digest.update(`${index} [${start}, ${end})${proof.map((h) => ' ' + hex(h)).join('')}\n`);
          }
        }
      }
      expect(digest.digest('hex')).to.equal('ac2a8f989e44d99e399db448050ff5f19757df53cfb716aa81015d3955d8163f');
    });
  });

  describe('every proof over many tree sizes', () => {
    const SIZES = [...Array.from({ length: 70 }, (_, i) => i + 1), 127, 128, 129, 1000, 1025];
    const tree = treeOf(2 * Math.max(...SIZES));
    const roots = new Map<number, Hash>();
    /** The real root of the tree at a size: a proof's claim about another size is checked against that tree. */
    const rootAt = (size: number) => roots.get(size) ?? roots.set(size, treeHash(size, tree.read)).get(size)!;
    /** Every index for the small trees; edges and a spread for the large ones. */
    const sample = (n: number) =>
      n <= 70
        ? Array.from({ length: n }, (_, i) => i)
        : [0, 1, n >> 1, n - 2, n - 1, ...[3, 37, 64, 511].filter((i) => i < n)];

    // The root does not commit to the size (a checkpoint's signature does), so an altered size is
    // checked against the root of the tree of that size: the RFC verifier does accept some proofs
    // for other sizes with the original root (the proof 1 → 3 as 1 → 4, taking leaf 2 for [2, 4)).
    it('verifies every inclusion proof, and none with a hash, index or size altered', () => {
      let checked = 0;
      for (const size of SIZES) {
        const root = rootAt(size);
        expect(hex(root)).to.equal(hex(rootFromLeaves(tree.leaves.slice(0, size))));
        for (const index of sample(size)) {
          const leaf = tree.leaves[index];
          const proof = inclusionProof(index, size, tree.read);
          const at = `leaf ${index} of ${size}`;
          expect(verifyInclusion(index, size, leaf, proof, root), at).to.equal(true);
          proof.forEach((_, i) => {
            const bad = proof.map((h, j) => (j === i ? flipped(h, 8 * i + 3) : h));
            expect(verifyInclusion(index, size, leaf, bad, root), `${at}, proof[${i}] altered`).to.equal(false);
          });
          expect(verifyInclusion(index, size, flipped(leaf), proof, root), `${at}, leaf altered`).to.equal(false);
          expect(verifyInclusion(index, size, leaf, proof, flipped(root, 255)), `${at}, root altered`).to.equal(false);
          for (const other of [index - 1, index + 1, index ^ 1]) {
            if (other === index) continue;
            expect(verifyInclusion(other, size, leaf, proof, root), `${at} as index ${other}`).to.equal(false);
          }
          for (const other of [size - 1, size + 1, 2 * size]) {
            const claim = verifyInclusion(index, other, leaf, proof, rootAt(other));
            expect(claim, `${at} as size ${other}`).to.equal(false);
          }
          if (proof.length > 0) {
            expect(verifyInclusion(index, size, leaf, proof.slice(1), root), `${at}, shortened`).to.equal(false);
          }
          expect(verifyInclusion(index, size, leaf, [...proof, root], root), `${at}, lengthened`).to.equal(false);
          // RFC 9162 §2.1.3.2 step 4a: a proof longer than the path cannot vouch for a made-up root above it.
          const madeUp = nodeHash(root, root);
          expect(verifyInclusion(index, size, leaf, [...proof, root], madeUp), `${at}, extended`).to.equal(false);
          checked++;
        }
      }
      expect(checked).to.be.greaterThan(2500);
    });

    it('verifies every consistency proof, and none with a hash or a size altered', () => {
      let checked = 0;
      for (const n of SIZES) {
        const rootN = rootAt(n);
        for (const m of sample(n).map((i) => i + 1)) {
          const rootM = rootAt(m);
          const proof = consistencyProof(m, n, tree.read);
          const at = `${m} → ${n}`;
          expect(verifyConsistency(m, n, rootM, rootN, proof), at).to.equal(true);
          proof.forEach((_, i) => {
            const bad = proof.map((h, j) => (j === i ? flipped(h, 8 * i + 5) : h));
            expect(verifyConsistency(m, n, rootM, rootN, bad), `${at}, proof[${i}] altered`).to.equal(false);
          });
          expect(verifyConsistency(m, n, flipped(rootM), rootN, proof), `${at}, first root altered`).to.equal(false);
          expect(verifyConsistency(m, n, rootM, flipped(rootN), proof), `${at}, second root altered`).to.equal(false);
          for (const [m2, n2] of [
            [m - 1, n],
            [m + 1, n],
            [m, n - 1],
            [m, n + 1],
          ]) {
            if (m2 === n2 && m2 === m) continue;
            const claim = verifyConsistency(m2, n2, rootAt(m2), rootAt(n2), proof);
            expect(claim, `${at} as ${m2} → ${n2}`).to.equal(false);
          }
          if (m < n) {
            expect(verifyConsistency(m, n, rootM, rootN, proof.slice(1)), `${at}, shortened`).to.equal(false);
            expect(verifyConsistency(m, n, rootM, rootN, [...proof, rootN]), `${at}, lengthened`).to.equal(false);
            // RFC 9162 §2.1.4.2 step 6a: nor can a longer proof tie two made-up roots above the real ones.
            const [madeUpM, madeUpN] = [nodeHash(rootN, rootM), nodeHash(rootN, rootN)];
            expect(verifyConsistency(m, n, madeUpM, madeUpN, [...proof, rootN]), `${at}, extended`).to.equal(false);
          }
          checked++;
        }
      }
      expect(checked).to.be.greaterThan(2500);
    });

    it('reads O(log n) stored hashes, in one batch, for a root and for each proof', () => {
      const size = 1025;
      const bound = 2 * Math.ceil(Math.log2(size));
      for (const [nodes, build] of [
        [nodesForTreeHash(size), () => treeHash(size, tree.read)],
        [nodesForInclusionProof(700, size), () => inclusionProof(700, size, tree.read)],
        [nodesForConsistencyProof(3, size), () => consistencyProof(3, size, tree.read)],
        [nodesForConsistencyProof(1000, size), () => consistencyProof(1000, size, tree.read)],
      ] as const) {
        tree.reads = [];
        build();
        expect(tree.reads).to.deep.equal([nodes]);
        expect(nodes.length).to.be.within(1, bound);
      }
    });
  });

  describe('trees beyond 32 bits', () => {
    // With every leaf the same, each level's nodes share one hash, so a tree of any size is cheap to
    // store; a 32-bit shift anywhere in the index arithmetic would fail these proofs.
    const levels: Hash[] = [leafHash(Buffer.from('same'))];
    for (let l = 1; l <= 52; l++) levels.push(nodeHash(levels[l - 1], levels[l - 1]));
    const read: HashReader = (ids) => ids.map(({ level }) => levels[level]);

    it('proves inclusion and consistency in trees of more than 2^32 leaves', () => {
      for (const [index, size] of [
        [2 ** 32, 2 ** 33 + 5],
        [2 ** 40 + 7, 2 ** 41 - 1],
        [2 ** 50 - 2, 2 ** 50],
      ]) {
        const root = treeHash(size, read);
        const proof = inclusionProof(index, size, read);
        expect(verifyInclusion(index, size, levels[0], proof, root), `leaf ${index} of ${size}`).to.equal(true);
        expect(verifyInclusion(index, size + 1, levels[0], proof, treeHash(size + 1, read))).to.equal(false);
        expect(verifyInclusion(index, size, levels[0], [flipped(proof[0]), ...proof.slice(1)], root)).to.equal(false);
        const consistency = consistencyProof(index + 1, size, read);
        expect(verifyConsistency(index + 1, size, treeHash(index + 1, read), root, consistency)).to.equal(true);
        expect(verifyConsistency(index + 1, size, root, root, consistency)).to.equal(false);
      }
    });
  });

  describe('arguments', () => {
    const tree = treeOf(5);

    it('refuses a proof outside the tree with a bad_request naming the sizes', () => {
      const refusals: [() => unknown, RegExp][] = [
        [() => inclusionProof(5, 5, tree.read), /leaf index 5 is not below tree size 5/],
        [() => inclusionProof(-1, 5, tree.read), /leaf index must be a non-negative safe integer/],
        [() => inclusionProof(0, 1.5, tree.read), /tree size must be a non-negative safe integer, not 1.5/],
        [() => consistencyProof(0, 5, tree.read), /no consistency proof from tree size 0 to 5/],
        [() => consistencyProof(6, 5, tree.read), /no consistency proof from tree size 6 to 5/],
        [() => treeHash(2 ** 53, tree.read), /tree size must be a non-negative safe integer/],
      ];
      for (const [call, message] of refusals) {
        expect(call).to.throw(AuditError, message).with.property('reason', 'bad_request');
      }
    });

    it('answers the trivial proofs without reading', () => {
      tree.reads = [];
      expect(inclusionProof(0, 1, tree.read)).to.deep.equal([]);
      expect(consistencyProof(5, 5, tree.read)).to.deep.equal([]);
      expect(tree.reads).to.deep.equal([]);
      expect(verifyConsistency(5, 5, treeHash(5, tree.read), treeHash(5, tree.read), [])).to.equal(true);
    });

    it('fails verification of impossible sizes rather than throwing', () => {
      const root = treeHash(5, tree.read);
      expect(verifyInclusion(5, 5, tree.leaves[0], [], root)).to.equal(false);
      expect(verifyInclusion(-1, 5, tree.leaves[0], [], root)).to.equal(false);
      expect(verifyInclusion(0, NaN, tree.leaves[0], [], root)).to.equal(false);
      expect(verifyInclusion(0, 1, new Uint8Array(0), [], new Uint8Array(0))).to.equal(false);
      expect(verifyConsistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])).to.equal(false);
      expect(verifyConsistency(6, 5, root, root, [])).to.equal(false);
      expect(verifyConsistency(1.5, 5, root, root, [root])).to.equal(false);
    });

    it('refuses a reader that answers the wrong number or size of hashes', () => {
      expect(() => treeHash(3, () => [])).to.throw(/answered 0 hashes for 2 nodes/);
      expect(() => treeHash(3, (ids) => ids.map(() => new Uint8Array(31)))).to.throw(/31 bytes, not 32/);
      expect(() => treeHash(3, () => [new Uint8Array(32)])).to.throw(/answered 1 hashes for 2/);
      expect(() => appendLeaf(EMPTY_FRONTIER, new Uint8Array(31))).to.throw(/leaf hash is 31 bytes/);
    });
  });
});

describe('Merkle tree frontier and tiles (what the store keeps)', () => {
  const leaves = Array.from({ length: 700 }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)));
  const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

  it('appends from the frontier alone: the same root, and each subtree the leaf completes', () => {
    let frontier: Frontier = EMPTY_FRONTIER;
    leaves.forEach((leaf, n) => {
      const completed: string[] = [];
      frontier = appendLeaf(frontier, leaf, (node) => completed.push(`${node.level}/${node.index}/${b64(node.hash)}`));
      // Leaf n completes the subtrees ending at it: one per trailing 1 bit of n.
      const expected: string[] = [];
      for (let level = 1; (n + 1) % 2 ** level === 0; level++) {
        const index = Math.floor(n / 2 ** level);
        const hash = rootFromLeaves(leaves.slice(index * 2 ** level, (index + 1) * 2 ** level));
        expected.push(`${level}/${index}/${b64(hash)}`);
      }
      expect(completed).to.deep.equal(expected);
      expect(frontier.size).to.equal(n + 1);
      if (n % 37 === 0 || n > 690)
        expect(b64(frontierRoot(frontier))).to.equal(b64(rootFromLeaves(leaves.slice(0, n + 1))));
    });
    expect(b64(frontierRoot(EMPTY_FRONTIER))).to.equal(b64(EMPTY_ROOT));
  });

  it('computes any complete subtree from the tile levels alone', () => {
    // Store only what a tiled store keeps: leaves and every TILE_HEIGHT-th level.
    const stored = new Map<string, Uint8Array>();
    let frontier: Frontier = EMPTY_FRONTIER;
    leaves.forEach((leaf, n) => {
      stored.set(`0/${n}`, leaf);
      frontier = appendLeaf(frontier, leaf, (node) => {
        if (isTileLevel(node.level)) stored.set(`${node.level}/${node.index}`, node.hash);
      });
    });
    const levels = [...stored.keys()].map((key) => Number(key.split('/')[0]));
    // 700 leaves: 43 complete subtrees of 16 leaves (level 4), two of 256 (level 8).
    expect([4, 8].map((level) => levels.filter((l) => l === level).length)).to.deep.equal([43, 2]);
    expect(levels.every((level) => isTileLevel(level))).to.equal(true);
    const wanted = [
      { level: 0, index: 5 },
      { level: 3, index: 10 },
      { level: 7, index: 4 },
      { level: 8, index: 1 },
      { level: 9, index: 0 },
    ];
    const ranges = tileRanges(wanted);
    expect(ranges).to.deep.equal([
      { level: 0, from: 5, to: 6 },
      { level: 0, from: 80, to: 88 },
      { level: 4, from: 32, to: 40 },
      { level: 8, from: 0, to: 2 },
    ]);
    const hashes = tiledHashes(wanted, (level, index) => stored.get(`${level}/${index}`)!);
    wanted.forEach((node, i) => {
      const span = 2 ** node.level;
      expect(b64(hashes[i])).to.equal(b64(rootFromLeaves(leaves.slice(node.index * span, (node.index + 1) * span))));
    });
  });
});
