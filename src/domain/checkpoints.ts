// TEMPORARY placeholder until the checkpointKeys branch merges (type only).
export interface CheckpointNotary {
  sign(imsOrgId: string, treeSize: number, rootHash: Uint8Array): string;
  verifierKeys(): string;
}
