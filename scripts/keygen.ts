// Makes a checkpoint signing key (see the README's Checkpoint keys).
//   npm run keygen -- --name NAME [--out FILE]
// With --out: the private key goes to FILE (mode 0600, never overwritten), the verifier key to stdout.
// Without: the private key goes to stdout (for a secret store), the verifier key to stderr.
import { parseArgs } from 'node:util';
import { writeFileOnce } from '../src/checkpointKeys';
import { AuditError } from '../src/domain/errors';
import { generateSignerKey, parseSignerKey, verifierKeyOf } from '../src/domain/note';

const USAGE = 'usage: npm run keygen -- --name NAME [--out FILE]';

let values: { name?: string; out?: string };
try {
  ({ values } = parseArgs({ options: { name: { type: 'string' }, out: { type: 'string' } } }));
} catch (error) {
  console.error(`keygen: ${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (!values.name || values.out === '') {
  console.error(USAGE);
  process.exit(2);
}

let key: string;
try {
  key = generateSignerKey(values.name);
} catch (error) {
  if (!(error instanceof AuditError)) throw error;
  console.error(`keygen: --name "${values.name}": ${error.message}`);
  process.exit(2);
}
const verifierKey = verifierKeyOf(parseSignerKey(key));

if (values.out === undefined) {
  console.log(key);
  console.error(verifierKey);
  process.exit(0);
}
let written: boolean;
try {
  written = writeFileOnce(
    values.out,
    `# Checkpoint key made ${new Date().toISOString()}; its verifier key is\n# ${verifierKey}\n${key}\n`,
  );
} catch (error) {
  console.error(`keygen: cannot write ${values.out}: ${(error as Error).message}`);
  process.exit(1);
}
if (!written) {
  console.error(`keygen: ${values.out} exists; not overwriting it`);
  process.exit(1);
}
console.log(verifierKey);
