// The audit-log viewer (GET /): bundled by scripts/build.ts into dist/viewer/viewer.js and .css.
import { render } from 'preact';
import { App } from './App';
import './viewer.css';

const root = document.getElementById('viewer');
if (root) {
  root.textContent = '';
  render(<App />, root);
}
