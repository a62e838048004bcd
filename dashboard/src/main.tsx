import { render } from 'preact';
import { App } from './app.js';
import { adoptSetupPath } from './router.js';
import './styles.css';

adoptSetupPath();
const root = document.getElementById('app');
if (root) render(<App />, root);
