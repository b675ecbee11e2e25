import { DOCS_CSP } from '../docs/site';
import type { Handler } from './types';

export const getDocs: Handler<'getDocs'> = async (_input, { docs }) => ({
  status: 200,
  contentType: 'text/html; charset=utf-8',
  body: docs.page,
  headers: { 'Content-Security-Policy': DOCS_CSP },
});
