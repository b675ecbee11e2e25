// The contract's types, generated from api/openapi.yaml (npm run generate). The build copies the
// generated file into dist and points this import at the copy, so the package is self-contained.
export type { components, operations, paths } from '../../generated/openapi.js';
