import type { Handler } from './types';

export const getOpenApiJson: Handler<'getOpenApiJson'> = async (_input, { contract }) => ({
  status: 200,
  body: contract.document,
});
