// The <max-alerts> widget in a real headless Chromium, against max-local serve and PostgreSQL.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SEED_INSERT, eachTestInBrowser } from './harness.mjs';

let server;
let page;
let errors;
eachTestInBrowser({}, (fresh) => ({ server, page, errors } = fresh));

const widget = () => page.locator('max-alerts');
const alerts = () => widget().locator('li.alert');
const badge = (text) => widget().getByText(text, { exact: true });
const TIMEOUT = { timeout: 10_000 };

async function expectVisible(locator, options = TIMEOUT) {
  await locator.waitFor({ state: 'visible', ...options });
}

async function open(query = '') {
  await page.goto(server.dashboardUrl(query));
  await expectVisible(widget().locator('.badges li').first());
}

test('with no alert the widget shows the calm empty state and zero badges', async () => {
  await open();
  await expectVisible(widget().getByRole('heading', { name: 'Alertes M.A.X.' }));
  await expectVisible(widget().getByText("R.A.S. aujourd'hui", { exact: false }));
  for (const text of ['Haute: 0', 'Moyenne: 0', 'Basse: 0']) await expectVisible(badge(text));
  assert.equal(await alerts().count(), 0);
  // The token left the address bar.
  assert.equal(new URL(page.url()).hash, '');
  assert.deepEqual(errors, []);
});

test("the seed's manual alert appears after Actualiser, counted in its badge", async () => {
  await open();
  await expectVisible(widget().getByText("R.A.S. aujourd'hui", { exact: false }));
  server.sql(SEED_INSERT);
  await widget().getByRole('button', { name: 'Actualiser' }).click();
  await expectVisible(widget().getByText('Test alerte production'));
  await expectVisible(badge('Haute: 1'));
  await expectVisible(widget().getByText('→ Test Action'));
  await expectVisible(widget().getByText('test_prod_alert'));
  await expectVisible(widget().getByText("à l'instant"));
  assert.equal(await widget().getByText("R.A.S. aujourd'hui", { exact: false }).isVisible(), false);
  assert.deepEqual(errors, []);
});

test('a new alert appears by itself after the refresh interval, without a reload', async () => {
  await open('refresh=1');
  await expectVisible(widget().getByText("R.A.S. aujourd'hui", { exact: false }));
  server.sql(SEED_INSERT);
  await expectVisible(widget().getByText('Test alerte production'), { timeout: 5_000 });
  await expectVisible(badge('Haute: 1'));
  assert.deepEqual(errors, []);
});

test('Résoudre removes the alert at once and the database records who resolved it', async () => {
  server.sql(SEED_INSERT);
  await open();
  await expectVisible(widget().getByText('Test alerte production'));
  // Hold the call back: the alert must be gone before the server has answered.
  let release;
  const held = new Promise((resolve) => (release = resolve));
  await page.route('**/api/alerts/*/resolve', async (route) => {
    await held;
    await route.continue();
  });
  await widget().getByRole('button', { name: /Résoudre/ }).click();
  await widget().getByText('Test alerte production').waitFor({ state: 'detached', timeout: 1_000 });
  await expectVisible(badge('Haute: 0'));
  release();
  await expectVisible(widget().getByText('Alerte de test_prod_alert résolue.'));
  assert.equal(server.sql("SELECT resolved_at IS NOT NULL, resolved_by FROM max_alerts WHERE lead_id = 'test_prod_alert';"), 't|user:demo');
  assert.deepEqual(errors, []);
});

test('a failing resolve puts the alert back with a visible error', async () => {
  server.sql(SEED_INSERT);
  await open();
  await expectVisible(widget().getByText('Test alerte production'));
  await page.route('**/api/alerts/*/resolve', (route) =>
    route.fulfill({
      status: 503,
      contentType: 'application/json',
      body: '{"success":false,"error":{"code":"database_unavailable","message":"Retry"}}',
    }),
  );
  await widget().getByRole('button', { name: /Résoudre/ }).click();
  await expectVisible(widget().getByRole('alert').getByText("La résolution de l'alerte de test_prod_alert a échoué", { exact: false }));
  await expectVisible(widget().getByText('Test alerte production'));
  await expectVisible(badge('Haute: 1'));
  assert.equal(server.sql("SELECT resolved_at IS NULL FROM max_alerts WHERE lead_id = 'test_prod_alert';"), 't');
});

test('a failed refresh keeps the last data and says when it was last updated', async () => {
  server.sql(SEED_INSERT);
  await open();
  await expectVisible(widget().getByText('Test alerte production'));
  await page.route('**/api/alerts/active*', (route) => route.abort());
  await widget().getByRole('button', { name: 'Actualiser' }).click();
  await expectVisible(widget().getByRole('alert').getByText(/Impossible de charger les alertes.*Dernière mise à jour à \d\d:\d\d\./));
  await expectVisible(widget().getByText('Test alerte production'));
  await expectVisible(badge('Haute: 1'));
});

test('lang="en" shows English labels', async () => {
  await open('lang=en');
  await expectVisible(widget().getByRole('heading', { name: 'M.A.X. Alerts' }));
  await expectVisible(widget().getByText('All clear today', { exact: false }));
  server.sql(SEED_INSERT);
  await widget().getByRole('button', { name: 'Refresh' }).click();
  await expectVisible(badge('High: 1'));
  await expectVisible(badge('Medium: 0'));
  await expectVisible(badge('Low: 0'));
  await expectVisible(widget().getByRole('button', { name: 'Resolve the alert about test_prod_alert' }));
  await expectVisible(widget().getByText('just now'));
  assert.deepEqual(errors, []);
});

test('an escalated alert is marked, and ages read like "il y a 3 j"', async () => {
  server.sql(
    "INSERT INTO max_alerts (tenant_id, lead_id, lead_name, type, severity, message, created_at, escalated_at) " +
      "VALUES ('macrea', 'lead_sophie', 'Sophie', 'UnansweredInbound', 'high', 'Sophie a écrit il y a 3 jours, sans réponse', now() - interval '3 days', now())",
  );
  await open();
  await expectVisible(widget().getByText('Sophie', { exact: true }));
  await expectVisible(widget().getByText('⚠ Escaladée'));
  await expectVisible(widget().getByText('il y a 3 j', { exact: true }));
  assert.deepEqual(errors, []);
});

test("a lead of the directory is named and links to its page in the CRM; an unknown one shows its id", async () => {
  server.sql(
    "INSERT INTO max_leads (tenant_id, lead_id, name, crm_url, source) " +
      "VALUES ('macrea', '6571b2c3d4e5f6a7b', 'Sophie Martin', 'https://crm.macrea.fr/#Lead/view/6571b2c3d4e5f6a7b', 'espocrm')",
  );
  server.sql(
    "INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message) " +
      "VALUES ('macrea', '6571b2c3d4e5f6a7b', 'NoContact7d', 'high', 'Aucun contact depuis 8 jours')",
  );
  server.sql(SEED_INSERT);
  await open();
  const link = widget().getByRole('link', { name: 'Sophie Martin' });
  await expectVisible(link);
  assert.equal(await link.getAttribute('href'), 'https://crm.macrea.fr/#Lead/view/6571b2c3d4e5f6a7b');
  assert.equal(await link.getAttribute('target'), '_blank');
  assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');
  assert.equal(await link.getAttribute('title'), 'Ouvrir la fiche de Sophie Martin dans le CRM (nouvel onglet)');
  await expectVisible(widget().getByRole('button', { name: "Résoudre l'alerte de Sophie Martin" }));
  // The seed's lead is not in the directory: its id, and no link.
  await expectVisible(widget().getByText('test_prod_alert', { exact: true }));
  assert.equal(await widget().getByRole('link').count(), 1);
  assert.deepEqual(errors, []);
});

test('a host app hands the token over with getToken, kept out of the markup, and a refreshed one is used', async () => {
  const token = new URLSearchParams(server.dashboardUrl().split('#')[1]).get('token');
  // The dashboard without the demo's sign-in: no token anywhere.
  await page.goto(server.dashboardUrl().split('#')[0]);
  await expectVisible(widget().getByText('il lui faut un jeton', { exact: false }));
  server.sql(SEED_INSERT);
  // The app's sign-in first holds an expired token, then a fresh one.
  await page.evaluate((fresh) => {
    window.calls = 0;
    window.current = 'expired.token.value';
    document.querySelector('max-alerts').getToken = async () => {
      window.calls += 1;
      return window.current;
    };
    window.refreshToken = () => { window.current = fresh; };
  }, token);
  await expectVisible(widget().getByText('session', { exact: false }));
  await page.evaluate(() => window.refreshToken());
  await widget().getByRole('button', { name: 'Actualiser' }).click();
  await expectVisible(widget().getByText('Test alerte production'));
  await widget().getByRole('button', { name: "Résoudre l'alerte de test_prod_alert" }).click();
  await expectVisible(widget().getByRole('status').getByText('Alerte de test_prod_alert résolue.'));
  assert.ok((await page.evaluate(() => window.calls)) >= 3);
  assert.equal(await widget().getAttribute('token'), null);
  assert.equal(server.sql("SELECT resolved_by LIKE 'user:%' FROM max_alerts WHERE lead_id = 'test_prod_alert';"), 't');
  assert.deepEqual(errors.filter((e) => !e.includes('401')), []);
});

test('the keyboard alone resolves an alert, and the live region says so', async () => {
  server.sql(SEED_INSERT);
  server.sql(
    "INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message) VALUES ('macrea', 'lead_2', 'NoReply3d', 'medium', 'Le lead n''a pas répondu depuis 3 jours')",
  );
  await open();
  await expectVisible(widget().getByText('Test alerte production'));
  // Tab through the widget: Actualiser, then the first alert's Résoudre.
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  const focused = await widget().evaluate((host) => host.shadowRoot.activeElement?.getAttribute('aria-label'));
  assert.equal(focused, "Résoudre l'alerte de test_prod_alert");
  await page.keyboard.press('Enter');
  await expectVisible(widget().getByRole('status').getByText('Alerte de test_prod_alert résolue.'));
  // Focus moved on to the next alert's button, not lost.
  const next = await widget().evaluate((host) => host.shadowRoot.activeElement?.getAttribute('aria-label'));
  assert.equal(next, "Résoudre l'alerte de lead_2");
  assert.equal(server.sql("SELECT resolved_at IS NOT NULL FROM max_alerts WHERE lead_id = 'test_prod_alert';"), 't');
  assert.deepEqual(errors, []);
});

test('auto-refresh pauses while the page is hidden and catches up when it shows again', async () => {
  await open('refresh=1');
  let calls = 0;
  page.on('request', (request) => {
    if (request.url().includes('/api/alerts/active')) calls += 1;
  });
  const setHidden = (hidden) =>
    page.evaluate((hidden) => {
      Object.defineProperty(document, 'hidden', { value: hidden, configurable: true });
      Object.defineProperty(document, 'visibilityState', { value: hidden ? 'hidden' : 'visible', configurable: true });
      document.dispatchEvent(new Event('visibilitychange'));
    }, hidden);
  await setHidden(true);
  const before = calls;
  server.sql(SEED_INSERT);
  await page.waitForTimeout(2_500);
  assert.equal(calls, before, 'no refresh while hidden');
  assert.equal(await widget().getByText('Test alerte production').count(), 0);
  await setHidden(false);
  await expectVisible(widget().getByText('Test alerte production'), { timeout: 1_000 });
  assert.deepEqual(errors, []);
});
