import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The tests' checkpoint key (made with npm run keygen), so a test can pin its verifier key. */
export const TEST_CHECKPOINT_KEY = 'PRIVATE+KEY+audit.test+33f5fce6+AUZ3Cak9LUShpxKtaK5VYKhOszCRZH9yZo56cntubCv3';
export const TEST_CHECKPOINT_VERIFIER_KEY = 'audit.test+33f5fce6+AcH8+GY36hBA+jtaZ0ZZ1T85jDHngSO1NSnNpekXvBYv';

let file: string | undefined;

/**
 * A CHECKPOINT_KEY_FILE holding TEST_CHECKPOINT_KEY, mode 0600, written once per test process
 * and removed at its exit: services under test then never create a dev key in the checkout's data/.
 */
export function testCheckpointKeyFile(): string {
  if (file === undefined) {
    const dir = mkdtempSync(path.join(tmpdir(), 'audit-test-checkpoint-key-'));
    file = path.join(dir, 'checkpoint-key');
    writeFileSync(file, `${TEST_CHECKPOINT_KEY}\n`, { mode: 0o600 });
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return file;
}
