import type { Handler } from './types';

export const getOpenApiYaml: Handler<'getOpenApiYaml'> = async (_input, { contract }) => ({
  status: 200,
  contentType: 'application/yaml',
  body: contract.source,
});
