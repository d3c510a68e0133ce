// Acknowledging, snoozing and the history of an alert in the <max-alerts> widget, and its
// accessibility checked by axe-core: in a real headless Chromium, against max-local serve and
// PostgreSQL. The browser runs in Paris time, so that "Demain 9 h" has an offset to get right.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { SEED_INSERT, eachTestInBrowser, reopen } from './harness.mjs';

const TIME_ZONE = 'Europe/Paris';
const AXE = fileURLToPath(new URL('../node_modules/axe-core/axe.min.js', import.meta.url));

let server;
let page;
let errors;
eachTestInBrowser({ timezoneId: TIME_ZONE }, (fresh) => ({ server, page, errors } = fresh));

const widget = () => page.locator('max-alerts');
const badge = (text) => widget().locator('.badges').getByText(text, { exact: true });
const status = () => widget().getByRole('status');
const TIMEOUT = { timeout: 10_000 };
const SEED = "lead_id = 'test_prod_alert'";
const SECOND_ALERT =
  "INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message) VALUES ('macrea', 'lead_2', 'NoReply3d', 'medium', 'Le lead n''a pas répondu depuis 3 jours')";

async function expectVisible(locator, options = TIMEOUT) {
  await locator.waitFor({ state: 'visible', ...options });
}

async function open(query = '') {
  await page.goto(server.dashboardUrl(query));
  await expectVisible(widget().locator('.badges li').first());
}

/// The aria-label (else the text) of the element that has the focus in the widget.
function focused() {
  return widget().evaluate((host) => {
    const active = host.shadowRoot.activeElement;
    return active ? active.getAttribute('aria-label') || active.textContent : null;
  });
}

function failWith(route, status = 500) {
  return route.fulfill({
    status,
    contentType: 'application/json',
    body: '{"success":false,"error":{"code":"internal","message":"Retry"}}',
  });
}

test("Je m'en occupe marks the alert at once, keeps it listed, and the database records who", async () => {
  server.sql(SEED_INSERT);
  await open();
  await expectVisible(widget().getByText('Test alerte production'));
  // Hold the call back: the mark must show before the server has answered.
  let release;
  const held = new Promise((resolve) => (release = resolve));
  await page.route('**/api/alerts/*/acknowledge', async (route) => {
    await held;
    await route.continue();
  });
  await widget().getByRole('button', { name: "Je m'en occupe (alerte de test_prod_alert)" }).click();
  await expectVisible(widget().getByText('✓ Pris en charge'), { timeout: 1_000 });
  assert.equal(await widget().getByRole('button', { name: /Je m'en occupe/ }).count(), 0);
  release();
  await expectVisible(status().getByText('Alerte de test_prod_alert prise en charge.'));
  assert.equal(server.sql(`SELECT acknowledged_at IS NOT NULL, acknowledged_by, resolved_at IS NULL FROM max_alerts WHERE ${SEED};`), 't|user:demo|t');
  // Still listed and counted; after a refresh the server's own acknowledgement shows, with its time.
  await widget().getByRole('button', { name: 'Actualiser' }).click();
  await expectVisible(status().getByText('1 alerte active.'));
  await expectVisible(widget().getByText('Test alerte production'));
  await expectVisible(badge('Haute: 1'));
  const mark = widget().getByText('✓ Pris en charge');
  await expectVisible(mark);
  assert.match(await mark.getAttribute('title'), /^Pris en charge \d+ .+\d\d:\d\d$/);
  assert.equal(await widget().getByRole('button', { name: /Je m'en occupe/ }).count(), 0);
  assert.deepEqual(errors, []);
});

test('a failing acknowledge takes the mark away with a visible error', async () => {
  server.sql(SEED_INSERT);
  await open();
  await expectVisible(widget().getByText('Test alerte production'));
  await page.route('**/api/alerts/*/acknowledge', (route) => failWith(route));
  await widget().getByRole('button', { name: /Je m'en occupe/ }).click();
  await expectVisible(widget().getByRole('alert').getByText("La prise en charge de l'alerte de test_prod_alert a échoué", { exact: false }));
  assert.equal(await widget().getByText('✓ Pris en charge').count(), 0);
  await expectVisible(widget().getByRole('button', { name: "Je m'en occupe (alerte de test_prod_alert)" }));
  assert.equal(server.sql(`SELECT acknowledged_at IS NULL FROM max_alerts WHERE ${SEED};`), 't');
});

test('Reporter, 4 heures: the alert leaves the list and the badges, stays hidden after a refresh, and is counted apart', async () => {
  server.sql(SEED_INSERT);
  server.sql(SECOND_ALERT);
  await open();
  await expectVisible(widget().getByText('Test alerte production'));
  const toggle = widget().getByRole('button', { name: "Reporter l'alerte de test_prod_alert" });
  assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  const choices = widget().getByRole('group', { name: "Reporter l'alerte de test_prod_alert" });
  await expectVisible(choices);
  await choices.getByRole('button', { name: '4 heures' }).click();
  await widget().getByText('Test alerte production').waitFor({ state: 'detached', timeout: 1_000 });
  await expectVisible(badge('Haute: 0'));
  await expectVisible(status().getByText(/^Alerte de test_prod_alert reportée jusqu'à (demain )?\d\d:\d\d\.$/));
  await expectVisible(badge('1 en pause'));
  assert.equal(
    server.sql(`SELECT abs(extract(epoch FROM snoozed_until - now()) - 4 * 3600) < 120, snoozed_by, resolved_at IS NULL FROM max_alerts WHERE ${SEED};`),
    't|user:demo|t',
  );
  await page.reload();
  await expectVisible(widget().getByText("Le lead n'a pas répondu depuis 3 jours"));
  assert.equal(await widget().getByText('Test alerte production').count(), 0);
  await expectVisible(badge('Haute: 0'));
  await expectVisible(badge('Moyenne: 1'));
  await expectVisible(badge('1 en pause'));
  assert.deepEqual(errors, []);
});

test("Demain 9 h snoozes until tomorrow 09:00 in the browser's time zone", async () => {
  server.sql(SEED_INSERT);
  await open('lang=en');
  await widget().getByRole('button', { name: 'Snooze the alert about test_prod_alert' }).click();
  await widget().getByRole('button', { name: 'Tomorrow 9:00' }).click();
  await expectVisible(status().getByText('Alert about test_prod_alert snoozed until tomorrow 09:00.'));
  await expectVisible(badge('1 snoozed'));
  assert.equal(
    server.sql(
      `SELECT to_char(snoozed_until AT TIME ZONE '${TIME_ZONE}', 'HH24:MI'), ` +
        `(snoozed_until AT TIME ZONE '${TIME_ZONE}')::date = (now() AT TIME ZONE '${TIME_ZONE}')::date + 1 FROM max_alerts WHERE ${SEED};`,
    ),
    '09:00|t',
  );
  assert.deepEqual(errors, []);
});

test('a failing snooze puts the alert back with a visible error', async () => {
  server.sql(SEED_INSERT);
  await open();
  await expectVisible(widget().getByText('Test alerte production'));
  await page.route('**/api/alerts/*/snooze', (route) => failWith(route, 503));
  await widget().getByRole('button', { name: /^Reporter/ }).click();
  await widget().getByRole('button', { name: '1 semaine' }).click();
  await expectVisible(widget().getByRole('alert').getByText("Le report de l'alerte de test_prod_alert a échoué", { exact: false }));
  await expectVisible(widget().getByText('Test alerte production'));
  await expectVisible(badge('Haute: 1'));
  assert.equal(await widget().getByText(/en pause/).count(), 0);
  assert.equal(server.sql(`SELECT snoozed_until IS NULL FROM max_alerts WHERE ${SEED};`), 't');
});

test('the keyboard alone acknowledges and snoozes: Tab, Enter, Escape, and the focus is never lost', async () => {
  server.sql(SEED_INSERT);
  server.sql(SECOND_ALERT);
  await open();
  await expectVisible(widget().getByText('Test alerte production'));
  // Actualiser, then the first alert's Résoudre, Je m'en occupe.
  for (let i = 0; i < 3; i += 1) await page.keyboard.press('Tab');
  assert.equal(await focused(), "Je m'en occupe (alerte de test_prod_alert)");
  await page.keyboard.press('Enter');
  await expectVisible(status().getByText('Alerte de test_prod_alert prise en charge.'));
  // The button is gone: the focus moved on to the next action.
  assert.equal(await focused(), "Historique de l'alerte de test_prod_alert");
  await page.keyboard.press('Tab');
  assert.equal(await focused(), "Reporter l'alerte de test_prod_alert");
  await page.keyboard.press('Enter');
  const toggle = widget().getByRole('button', { name: "Reporter l'alerte de test_prod_alert" });
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  await page.keyboard.press('Tab');
  assert.equal(await focused(), '1 heure');
  // Escape closes the choices and gives the focus back to Reporter.
  await page.keyboard.press('Escape');
  assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
  assert.equal(await widget().getByRole('button', { name: '1 heure' }).count(), 0);
  assert.equal(await focused(), "Reporter l'alerte de test_prod_alert");
  await page.keyboard.press('Enter');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  assert.equal(await focused(), '4 heures');
  await page.keyboard.press('Enter');
  await expectVisible(status().getByText(/^Alerte de test_prod_alert reportée jusqu'à/));
  // The alert is gone: the focus went on to the next alert, not to the page.
  assert.equal(await focused(), "Résoudre l'alerte de lead_2");
  assert.equal(server.sql(`SELECT acknowledged_by, snoozed_until > now() + interval '3 hours' FROM max_alerts WHERE ${SEED};`), 'user:demo|t');
  assert.deepEqual(errors, []);
});

test('Historique shows the history on demand: raised, then the acknowledgement and who made it', async () => {
  server.sql(SEED_INSERT);
  await open();
  await expectVisible(widget().getByText('Test alerte production'));
  const toggle = widget().getByRole('button', { name: "Historique de l'alerte de test_prod_alert" });
  assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
  await toggle.click();
  assert.equal(await toggle.getAttribute('aria-expanded'), 'true');
  const history = widget().getByRole('region', { name: "Historique de l'alerte de test_prod_alert" });
  await expectVisible(history.getByRole('listitem').getByText('Levée', { exact: true }));
  assert.equal(await history.getByRole('listitem').count(), 1);
  // Acknowledged while open: the history loads again and tells who.
  await widget().getByRole('button', { name: /Je m'en occupe/ }).click();
  await expectVisible(history.getByText('Prise en charge par demo', { exact: true }));
  assert.equal(await history.getByRole('listitem').count(), 2);
  assert.match(await history.getByRole('listitem').first().innerText(), /^\d+ .+\d\d:\d\d — Levée$/);
  // Escape from inside closes it and gives the focus back to its button.
  await toggle.focus();
  await page.keyboard.press('Escape');
  assert.equal(await toggle.getAttribute('aria-expanded'), 'false');
  assert.equal(await history.isVisible(), false);
  assert.equal(await focused(), "Historique de l'alerte de test_prod_alert");
  assert.deepEqual(errors, []);
});

test('lang="en": an acknowledged, escalated alert and its history in English, with the comment and the API key', async () => {
  server.sql(
    "INSERT INTO max_alerts (tenant_id, lead_id, lead_name, type, severity, message, created_at) " +
      "VALUES ('macrea', 'lead_sophie', 'Sophie', 'UnansweredInbound', 'high', 'Sophie wrote 3 days ago', now() - interval '3 days')",
  );
  server.sql("UPDATE max_alerts SET escalated_at = now() WHERE lead_id = 'lead_sophie'");
  server.sql(
    "UPDATE max_alerts SET acknowledged_at = now(), acknowledged_by = 'api-key:mxk_macrea_Iw', acknowledgement = 'Calling her tomorrow' WHERE lead_id = 'lead_sophie'",
  );
  await open('lang=en');
  await expectVisible(widget().getByText('⚠ Escalated'));
  await expectVisible(widget().getByText('✓ Acknowledged'));
  assert.equal(await widget().getByRole('button', { name: /I'm on it/ }).count(), 0);
  await widget().getByRole('button', { name: 'History of the alert about Sophie' }).click();
  const history = widget().getByRole('region', { name: 'History of the alert about Sophie' });
  await expectVisible(history.getByText('Raised', { exact: true }));
  await expectVisible(history.getByText('Escalated', { exact: true }));
  await expectVisible(history.getByText('Acknowledged by the API key mxk_macrea_Iw', { exact: true }));
  await expectVisible(history.getByText('Calling her tomorrow', { exact: true }));
  // Resolved elsewhere then the history opened again: who resolved it.
  server.sql("UPDATE max_alerts SET resolved_at = now(), resolved_by = 'user:demo', resolution = 'manual' WHERE lead_id = 'lead_sophie'");
  await widget().getByRole('button', { name: 'History of the alert about Sophie' }).click();
  await widget().getByRole('button', { name: 'History of the alert about Sophie' }).click();
  await expectVisible(history.getByText('Resolved by demo', { exact: true }));
  assert.deepEqual(errors, []);
});

test('a history that cannot be loaded says so in words', async () => {
  server.sql(SEED_INSERT);
  await open();
  await expectVisible(widget().getByText('Test alerte production'));
  await page.route('**/api/alerts/*-*', (route) => failWith(route, 503));
  await widget().getByRole('button', { name: /^Historique/ }).click();
  await expectVisible(widget().getByText("Impossible de charger l'historique pour le moment."));
});

for (const lang of ['fr', 'en']) {
  test(`axe-core finds no WCAG 2.1 A/AA violation (lang=${lang}): alerts, marks, snooze choices and history open`, async () => {
    // axe is injected as a script: the dashboard's Content Security Policy would refuse it.
    ({ page, errors } = await reopen({ timezoneId: TIME_ZONE, bypassCSP: true }));
    server.sql(SEED_INSERT);
    server.sql(
      "INSERT INTO max_alerts (tenant_id, lead_id, lead_name, type, severity, message, suggested_action, created_at, escalated_at) VALUES " +
        "('macrea', 'lead_sophie', 'Sophie Martin', 'UnansweredInbound', 'high', 'Sophie Martin a écrit il y a 1 jour', '{\"label\": \"Répondre au lead\", \"action\": \"reply\"}', now() - interval '26 hours', now()), " +
        "('macrea', 'lead_lea', 'Léa Dubois', 'NoReply3d', 'medium', 'Léa Dubois n''a pas répondu depuis 3 jours', NULL, now() - interval '5 hours', NULL), " +
        "('macrea', 'lead_low', NULL, 'NoReply3d', 'low', 'Un lead calme', NULL, now() - interval '2 days', NULL)",
    );
    // Acknowledged after it was raised, so that its history holds the acknowledgement.
    server.sql("UPDATE max_alerts SET acknowledged_at = now(), acknowledged_by = 'user:demo', acknowledgement = 'Je la rappelle' WHERE lead_id = 'lead_lea'");
    server.sql(
      "INSERT INTO max_leads (tenant_id, lead_id, name, crm_url, source) " +
        "VALUES ('macrea', 'lead_sophie', 'Sophie Martin', 'https://crm.macrea.fr/#Lead/view/lead_sophie', 'espocrm')",
    );
    server.sql("UPDATE max_alerts SET snoozed_until = now() + interval '2 hours', snoozed_by = 'user:demo' WHERE lead_id = 'lead_low'");
    server.sql(SECOND_ALERT);
    await open(`lang=${lang}`);
    const en = lang === 'en';
    await expectVisible(widget().getByText(en ? '⚠ Escalated' : '⚠ Escaladée'));
    await expectVisible(widget().getByText(en ? '✓ Acknowledged' : '✓ Pris en charge'));
    await expectVisible(badge(en ? '1 snoozed' : '1 en pause'));
    await widget().getByRole('button', { name: en ? 'History of the alert about Léa Dubois' : "Historique de l'alerte de Léa Dubois" }).click();
    await expectVisible(widget().getByText('Je la rappelle', { exact: true }));
    await widget().getByRole('button', { name: en ? 'Snooze the alert about Sophie Martin' : "Reporter l'alerte de Sophie Martin" }).click();
    await expectVisible(widget().getByRole('button', { name: en ? '1 week' : '1 semaine' }));
    // A failed action's notice, too.
    await page.route('**/api/alerts/*/acknowledge', (route) => failWith(route));
    await widget().getByRole('button', { name: en ? "I'm on it (alert about lead_2)" : "Je m'en occupe (alerte de lead_2)" }).click();
    await expectVisible(widget().getByRole('alert'));

    await page.addScriptTag({ path: AXE });
    const violations = await page.evaluate(async () => {
      const result = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
      return result.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target, summary: n.failureSummary })),
      }));
    });
    assert.deepEqual(violations, [], JSON.stringify(violations, null, 2));
    assert.deepEqual(errors.filter((e) => !e.includes('500')), []);
  });
}
