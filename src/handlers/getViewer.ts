import { VIEWER_CSP } from '../docs/viewerSite';
import type { Handler } from './types';

export const getViewer: Handler<'getViewer'> = async (_input, { viewer }) => ({
  status: 200,
  contentType: 'text/html; charset=utf-8',
  body: viewer.page,
  headers: { 'Content-Security-Policy': VIEWER_CSP },
});
