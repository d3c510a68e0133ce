// Test harness: a real `max-local serve` on a free port and a database of its own, and a real
// headless Chromium (Debian's chromium, driven by playwright-core).

import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, afterEach, before, beforeEach } from 'node:test';
import { chromium } from 'playwright-core';

const root = fileURLToPath(new URL('../..', import.meta.url));
// The debug build `cargo test` made, in the workspace's target folder (or CARGO_TARGET_DIR's).
const targetDir = resolve(root, process.env.CARGO_TARGET_DIR || 'target');
const binary = process.env.MAX_LOCAL_BIN || join(targetDir, 'debug', 'max-local');
const server = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

/// The seed checklist's manual test alert, word for word (phase 4.2).
export const SEED_INSERT = `INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message, suggested_action) VALUES ('macrea','test_prod_alert','NoContact7d','high','Test alerte production','{"label": "Test Action", "action": "test"}'::jsonb);`;

function databaseUrl(name) {
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}

/// Starts `max-local serve` on a fresh database (it creates and migrates it).
export async function startServer() {
  const name = `browser_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const url = databaseUrl(name);
  const child = spawn(binary, ['serve', '--port', '0', '--evaluate-every', '0'], {
    env: { ...process.env, DATABASE_URL: url, RUST_LOG: 'warn', JWT_SECRET: 'browser-tests-secret-0123456789abcdef' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  let base;
  let dashboard;
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('max-local serve did not start within 60 s')), 60_000);
    child.once('exit', (code) => reject(new Error(`max-local serve exited with ${code}`)));
    child.once('error', (error) => reject(new Error(`cannot start ${binary}: ${error.message}`)));
    lines.on('line', (line) => {
      const listening = line.match(/^Listening on (\S+)/);
      if (listening) base = listening[1];
      const signedIn = line.match(/^Dashboard .*: (\S+)$/);
      if (signedIn) dashboard = signedIn[1];
      if (base && dashboard) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  await ready;
  return {
    base,
    /// The demo dashboard, signed in, with optional query parameters (lang, refresh).
    dashboardUrl(query = '') {
      const [path, fragment] = dashboard.split('#');
      return `${path}${query ? `?${query}` : ''}#${fragment}`;
    },
    /// Runs SQL as the tables' owner; returns the rows as text lines.
    sql(query) {
      return execFileSync('psql', [url, '-v', 'ON_ERROR_STOP=1', '-Atqc', query], { encoding: 'utf8' }).trim();
    },
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
      execFileSync('psql', [server, '-qc', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`]);
    },
  };
}

export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

/// A new page that records every console error and uncaught exception (`options`: Playwright's
/// context options, e.g. a time zone, or `bypassCSP` to inject axe-core).
export async function newPage(browser, options = {}) {
  const page = await browser.newPage(options);
  const errors = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(String(error)));
  return { page, errors };
}

let reopenPage;

/// The test's page replaced by one with these options (see `eachTestInBrowser`).
export function reopen(options) {
  return reopenPage(options);
}

/// The hooks of a browser test file: one Chromium for the file, and for each test a fresh
/// `max-local serve` and page (`options`: newPage's), handed to `use({ server, page, errors })`.
/// `reopen(options)` replaces the test's page by one with other options (and returns it).
export function eachTestInBrowser(options, use) {
  let browser;
  let current = {};
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    const server = await startServer();
    current = { server, ...(await newPage(browser, options)) };
    use(current);
  });
  reopenPage = async (other) => {
    await current.page.close();
    current = { server: current.server, ...(await newPage(browser, other)) };
    return current;
  };
  afterEach(async () => {
    await current.page?.close();
    await current.server?.stop();
  });
}
