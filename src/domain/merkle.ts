// A tenant's log as the Merkle tree of RFC 9162 §2.1: the tree hash, inclusion and consistency
// proofs, and their verifiers. A store keeps complete subtrees' hashes by (level, index): it
// appends from the tree's frontier (appendLeaf), keeps the tile levels (TILE_HEIGHT), and a root
// or a proof reads what it needs of them in one batch (the `nodesFor…` functions list it).
//
// Sizes and indexes are JavaScript numbers, safe integers below 2^53; the arithmetic below divides
// rather than shifts, because JavaScript's bitwise operators truncate to 32 bits.
import { AuditError } from './errors';
import { sha256 } from './crypto';

/** A SHA-256 tree hash: of a leaf, an interior node, or a root. */
export type Hash = Uint8Array;

export const HASH_SIZE = 32;

/** RFC 9162 §2.1.1: the hash of the empty tree, SHA-256 of the empty string. */
export const EMPTY_ROOT: Hash = sha256(new Uint8Array(0));

/** RFC 9162 §2.1.1: a leaf's hash, SHA-256(0x00 || leaf). */
export function leafHash(leaf: Uint8Array): Hash {
  const input = new Uint8Array(1 + leaf.length);
  input.set(leaf, 1);
  return sha256(input);
}

/** RFC 9162 §2.1.1: an interior node's hash, SHA-256(0x01 || left || right). */
export function nodeHash(left: Hash, right: Hash): Hash {
  // One buffer, one hash call, as Go's tlog.NodeHash does: this runs for every proof step.
  const input = new Uint8Array(1 + left.length + right.length);
  input[0] = 0x01;
  input.set(left, 1);
  input.set(right, 1 + left.length);
  return sha256(input);
}

/** RFC 9162 §2.1.1: MTH, the tree hash of the leaves whose leaf hashes are given, in order. */
export function rootFromLeaves(leafHashes: readonly Hash[]): Hash {
  const mth = (lo: number, hi: number): Hash => {
    if (hi - lo === 1) return leafHashes[lo];
    const k = splitPoint(hi - lo);
    return nodeHash(mth(lo, lo + k), mth(lo + k, hi));
  };
  return leafHashes.length === 0 ? EMPTY_ROOT : mth(0, leafHashes.length);
}

/**
 * A stored node: the root of the complete subtree at `level` over leaves
 * [index·2^level, (index+1)·2^level). Leaves are level 0.
 */
export interface NodeId {
  readonly level: number;
  readonly index: number;
}

export interface StoredNode extends NodeId {
  readonly hash: Hash;
}

/**
 * Reads stored node hashes, in the order asked. Every function here that takes one calls it at most
 * once (not at all when it needs no node), with exactly the list its `nodesFor…` companion returns;
 * a store that reads asynchronously fetches that list first and passes a reader that returns it.
 */
export type HashReader = (nodes: readonly NodeId[]) => readonly Hash[];

/** The nodes treeHash(size, …) reads: the complete subtrees that tile the tree, left to right. */
export function nodesForTreeHash(size: number): NodeId[] {
  requireSize(size, 'tree size');
  return subtreeNodes([0, size]);
}

/** RFC 9162 §2.1.1: the tree hash of the first `size` leaves, from at most 1 + log₂ size stored hashes. */
export function treeHash(size: number, read: HashReader): Hash {
  requireSize(size, 'tree size');
  return size === 0 ? EMPTY_ROOT : hashRanges([[0, size]], read)[0];
}

/** The nodes inclusionProof(index, size, …) reads. */
export function nodesForInclusionProof(index: number, size: number): NodeId[] {
  return inclusionRanges(index, size).flatMap(subtreeNodes);
}

/** RFC 9162 §2.1.3.1: the inclusion proof (audit path) of leaf `index` in the tree of `size` leaves. */
export function inclusionProof(index: number, size: number, read: HashReader): Hash[] {
  return hashRanges(inclusionRanges(index, size), read);
}

/** The nodes consistencyProof(m, n, …) reads. */
export function nodesForConsistencyProof(m: number, n: number): NodeId[] {
  return consistencyRanges(m, n).flatMap(subtreeNodes);
}

/**
 * RFC 9162 §2.1.4.1: the consistency proof that the tree of m leaves is a prefix of the tree of
 * n leaves, 0 < m ≤ n (empty when m = n).
 */
export function consistencyProof(m: number, n: number, read: HashReader): Hash[] {
  return hashRanges(consistencyRanges(m, n), read);
}

/**
 * RFC 9162 §2.1.3.2: whether `proof` shows the leaf with hash `leaf` at `index` in the tree of
 * `size` leaves whose root is `root`. Never throws: anything malformed is a failed proof.
 */
export function verifyInclusion(index: number, size: number, leaf: Hash, proof: readonly Hash[], root: Hash): boolean {
  if (!isSize(index) || !isSize(size) || index >= size || leaf.length !== HASH_SIZE) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!isOdd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else {
      r = nodeHash(r, p);
    }
    [fn, sn] = [half(fn), half(sn)];
  }
  return sn === 0 && equal(r, root);
}

/**
 * RFC 9162 §2.1.4.2: whether `proof` shows the tree of m leaves with root `rootM` to be a prefix
 * of the tree of n leaves with root `rootN`. The RFC's algorithm covers 0 < m < n; for m = n the
 * proof is empty and the roots are equal (§2.1.4.1), and a proof from the empty tree (m = 0)
 * means nothing, so it fails, as in transparency-dev/merkle. Never throws.
 */
export function verifyConsistency(m: number, n: number, rootM: Hash, rootN: Hash, proof: readonly Hash[]): boolean {
  if (!isSize(m) || !isSize(n) || m === 0 || m > n) return false;
  if (m === n) return proof.length === 0 && equal(rootM, rootN);
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(m) ? [rootM, ...proof] : proof;
  let fn = m - 1;
  let sn = n - 1;
  while (isOdd(fn)) [fn, sn] = [half(fn), half(sn)];
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!isOdd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else {
      sr = nodeHash(sr, c);
    }
    [fn, sn] = [half(fn), half(sn)];
  }
  return sn === 0 && equal(fr, rootM) && equal(sr, rootN);
}

/**
 * The right edge of a tree of `size` leaves: the hashes of the complete subtrees that tile it,
 * largest (leftmost) first, one per 1 bit of `size` (the nodes nodesForTreeHash names). Appending
 * a leaf needs only this, so a store keeps it with the tree's head and never reads nodes to append.
 */
export interface Frontier {
  readonly size: number;
  readonly hashes: readonly Hash[];
}

export const EMPTY_FRONTIER: Frontier = { size: 0, hashes: [] };

/**
 * The frontier after appending `leaf` as leaf `frontier.size`, and each subtree the leaf completes
 * (levels 1 and up, lowest first) to `completed`: computed from the frontier, reading nothing.
 */
export function appendLeaf(frontier: Frontier, leaf: Hash, completed: (node: StoredNode) => void = () => {}): Frontier {
  const hashes = [...frontier.hashes];
  appendLeafInPlace(hashes, frontier.size, leaf, (level, index, hash) => completed({ level, index, hash }));
  return { size: frontier.size + 1, hashes };
}

/**
 * appendLeaf on a frontier's hashes in place (the frontier of `size` leaves becomes that of
 * size + 1): for appending many leaves without copying the frontier for each one.
 */
export function appendLeafInPlace(
  hashes: Hash[],
  size: number,
  leaf: Hash,
  completed: (level: number, index: number, hash: Hash) => void,
): void {
  requireHash(leaf, 'leaf hash');
  let hash = leaf;
  let level = 0;
  // Each trailing 1 bit of the old size is a subtree of the same height as the one being built.
  for (let n = size; isOdd(n); n = half(n)) {
    hash = nodeHash(hashes.pop()!, hash);
    level++;
    completed(level, Math.floor(size / 2 ** level), hash);
  }
  hashes.push(hash);
}

/** The tree hash of the tree whose frontier this is. */
export function frontierRoot({ hashes }: Frontier): Hash {
  return hashes.length === 0 ? EMPTY_ROOT : hashes.reduceRight((right, left) => nodeHash(left, right));
}

/**
 * The stored nodes of a tiled tree, in the manner of C2SP tlog-tiles: leaves (level 0) and the
 * levels that are positive multiples of TILE_HEIGHT. Any other complete subtree is computed from
 * the 2..2^(TILE_HEIGHT-1) stored nodes below it. C2SP's tiles are 8 levels high; 4 makes a proof
 * at a million leaves read and hash about a hundred stored hashes instead of about six hundred, for
 * one stored node per 16 leaves (besides the leaves) instead of one per 256. Part of the storage
 * format: the nodes a database holds were written for this height.
 */
export const TILE_HEIGHT = 4;

export const isTileLevel = (level: number): boolean => level % TILE_HEIGHT === 0;

/** Stored nodes [from, to) of one tile level: what a tiled store reads to answer for `nodes`. */
export interface NodeRange {
  readonly level: number;
  readonly from: number;
  readonly to: number;
}

/** The stored node ranges, merged and sorted, from which tiledHashes computes `nodes`. */
export function tileRanges(nodes: readonly NodeId[]): NodeRange[] {
  const ranges = nodes
    .map(({ level, index }) => {
      const below = level % TILE_HEIGHT;
      return { level: level - below, from: index * 2 ** below, to: (index + 1) * 2 ** below };
    })
    .sort((a, b) => a.level - b.level || a.from - b.from);
  const merged: { level: number; from: number; to: number }[] = [];
  for (const range of ranges) {
    const last = merged.at(-1);
    if (last && last.level === range.level && range.from <= last.to) last.to = Math.max(last.to, range.to);
    else merged.push({ ...range });
  }
  return merged;
}

/** The hashes of `nodes`, from the stored nodes tileRanges named (`stored` throws for a missing one). */
export function tiledHashes(nodes: readonly NodeId[], stored: (level: number, index: number) => Hash): Hash[] {
  return nodes.map(({ level, index }) => {
    const below = level % TILE_HEIGHT;
    let row: Hash[] = [];
    for (let i = index * 2 ** below; i < (index + 1) * 2 ** below; i++) row.push(stored(level - below, i));
    while (row.length > 1) row = row.flatMap((hash, i) => (i % 2 === 0 ? [nodeHash(hash, row[i + 1])] : []));
    return row[0];
  });
}

/** Leaves [lo, hi): each proof element is the tree hash of one such range. */
type Range = readonly [lo: number, hi: number];

/** RFC 9162 §2.1.3.1 PATH(m, D[n]), as the leaf ranges whose hashes it lists, lowest first. */
function inclusionRanges(index: number, size: number): Range[] {
  requireSize(index, 'leaf index');
  requireSize(size, 'tree size');
  if (index >= size) throw new AuditError('bad_request', `leaf index ${index} is not below tree size ${size}`);
  const path = (lo: number, hi: number): Range[] => {
    if (hi - lo === 1) return [];
    const k = splitPoint(hi - lo);
    return index < lo + k ? [...path(lo, lo + k), [lo + k, hi]] : [...path(lo + k, hi), [lo, lo + k]];
  };
  return path(0, size);
}

/** RFC 9162 §2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true), as leaf ranges, lowest first. */
function consistencyRanges(m: number, n: number): Range[] {
  requireSize(m, 'first tree size');
  requireSize(n, 'second tree size');
  if (m === 0 || m > n) {
    throw new AuditError(
      'bad_request',
      `no consistency proof from tree size ${m} to ${n}: sizes must be 0 < first ≤ second`,
    );
  }
  const subproof = (lo: number, hi: number, complete: boolean): Range[] => {
    if (m === hi) return complete ? [] : [[lo, hi]];
    const k = splitPoint(hi - lo);
    return m <= lo + k
      ? [...subproof(lo, lo + k, complete), [lo + k, hi]]
      : [...subproof(lo + k, hi, false), [lo, lo + k]];
  };
  return subproof(0, n, true);
}

/**
 * The stored nodes whose hashes make MTH(D[lo:hi]): the largest complete subtrees that tile the
 * range, left to right. Every range of the RFC's recursion starts at a multiple of its own
 * largest power of two, so each is a node.
 */
function subtreeNodes([lo, hi]: Range): NodeId[] {
  const nodes: NodeId[] = [];
  while (lo < hi) {
    let level = 0;
    while (2 ** (level + 1) <= hi - lo) level++;
    nodes.push({ level, index: lo / 2 ** level });
    lo += 2 ** level;
  }
  return nodes;
}

/** The tree hash of each range, from one read of all the stored nodes they need. */
function hashRanges(ranges: readonly Range[], read: HashReader): Hash[] {
  const parts = ranges.map(subtreeNodes);
  const hashes = readExactly(read, parts.flat());
  let at = 0;
  return parts.map((part) => {
    const own = hashes.slice(at, (at += part.length));
    // MTH splits at the largest power of two, so the leftmost subtree joins the hash of the rest.
    return own.reduceRight((right, left) => nodeHash(left, right));
  });
}

function readExactly(read: HashReader, nodes: readonly NodeId[]): readonly Hash[] {
  if (nodes.length === 0) return [];
  const hashes = read(nodes);
  if (hashes.length !== nodes.length) {
    throw new Error(`the hash reader answered ${hashes.length} hashes for ${nodes.length} nodes`);
  }
  hashes.forEach((hash, i) => requireHash(hash, `stored hash of node ${nodes[i].level}/${nodes[i].index}`));
  return hashes;
}

/** The largest power of two smaller than n, for n ≥ 2: where RFC 9162 splits a tree. */
function splitPoint(n: number): number {
  let k = 1;
  while (2 * k < n) k *= 2;
  return k;
}

function requireSize(value: number, what: string): void {
  if (!isSize(value)) throw new AuditError('bad_request', `${what} must be a non-negative safe integer, not ${value}`);
}

function requireHash(hash: Hash, what: string): void {
  if (hash.length !== HASH_SIZE) throw new Error(`${what} is ${hash.length} bytes, not ${HASH_SIZE}`);
}

function isSize(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

const half = (n: number): number => Math.floor(n / 2);
const isOdd = (n: number): boolean => n % 2 === 1;
const isPowerOfTwo = (n: number): boolean => n > 0 && 2 ** Math.round(Math.log2(n)) === n;
