import {
  appendLeaf,
  EMPTY_FRONTIER,
  type Frontier,
  type Hash,
  type HashReader,
  leafHash,
  type NodeId,
} from '../../src/domain/merkle';

/**
 * The tests' reference store: every complete subtree's hash, kept in memory as appendLeaf
 * computes them, read back by (level, index). The service keeps only the tile levels (logStore.ts).
 */
export class MemoryTree {
  readonly leaves: Hash[] = [];
  /** By `${level}/${index}`, leaves included. */
  readonly nodes = new Map<string, Hash>();
  /** Every read, in order. */
  reads: NodeId[][] = [];
  private frontier: Frontier = EMPTY_FRONTIER;

  append(leaf: Hash): void {
    this.nodes.set(`0/${this.leaves.length}`, leaf);
    this.frontier = appendLeaf(this.frontier, leaf, (node) => this.nodes.set(`${node.level}/${node.index}`, node.hash));
    this.leaves.push(leaf);
  }

  readonly read: HashReader = (ids) => {
    this.reads.push([...ids]);
    return ids.map(({ level, index }) => {
      const hash = this.nodes.get(`${level}/${index}`);
      if (hash === undefined) throw new Error(`node ${level}/${index} is not stored`);
      return hash;
    });
  };
}

/** A tree of `count` leaves, leaf i hashing leafData(i). */
export function treeOf(count: number, leafData = (i: number) => Buffer.from(`leaf ${i}`)): MemoryTree {
  const tree = new MemoryTree();
  for (let i = 0; i < count; i++) tree.append(leafHash(leafData(i)));
  return tree;
}
