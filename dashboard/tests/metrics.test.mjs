// The metrics view ("Statistiques") of the <max-alerts> widget, and the Accept-Language header of
// its requests: in a real headless Chromium, against max-local serve and PostgreSQL. The alerts
// are written straight into max_alerts in past days; the database's triggers keep the daily
// roll-ups that GET /api/alerts/metrics reads.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { eachTestInBrowser, reopen } from './harness.mjs';

const TIME_ZONE = 'Europe/Paris';
const AXE = fileURLToPath(new URL('../node_modules/axe-core/axe.min.js', import.meta.url));

let server;
let page;
let errors;
eachTestInBrowser({ timezoneId: TIME_ZONE }, (fresh) => ({ server, page, errors } = fresh));

const widget = () => page.locator('max-alerts');
const status = () => widget().getByRole('status');
const TIMEOUT = { timeout: 10_000 };

/// Five alerts over the last 10 days: three resolved (two by hand, one automatically; two of
/// them within 24 hours of being raised), two still open. Raised 5, resolved 3, open 2, 40 %
/// resolved within 24 h; raised on 5 different days. Three widget users: u1 and u2, and demo
/// (the dashboard's user, today).
function seed() {
  server.sql(
    'INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message, created_at, resolved_at, resolved_by, resolution) VALUES ' +
      "('macrea', 'l1', 'NoContact7d', 'high', 'Premier', now() - interval '3 days', now() - interval '3 days' + interval '2 hours', 'user:u1', 'manual'), " +
      "('macrea', 'l2', 'UnansweredInbound', 'high', 'Deuxième', now() - interval '5 days', now() - interval '5 days' + interval '30 minutes', NULL, 'auto'), " +
      "('macrea', 'l3', 'NoReply3d', 'medium', 'Troisième', now() - interval '10 days', now() - interval '7 days', 'user:u1', 'manual')",
  );
  server.sql(
    'INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message, created_at, acknowledged_at, acknowledged_by) VALUES ' +
      "('macrea', 'l4', 'DeliveryFailed', 'low', 'Quatrième alerte ouverte', now() - interval '2 days', now() - interval '2 days' + interval '1 hour', 'user:u2'), " +
      "('macrea', 'l5', 'NoContact7d', 'medium', 'Cinquième alerte ouverte', now() - interval '1 day', NULL, NULL)",
  );
  const today = "(now() AT TIME ZONE max_tenant_time_zone('macrea'))::date";
  server.sql(
    'INSERT INTO max_widget_visits (tenant_id, day, user_id) VALUES ' +
      `('macrea', ${today} - 2, 'u1'), ('macrea', ${today} - 2, 'u2'), ('macrea', ${today} - 5, 'u1'), ('macrea', ${today}, 'demo') ` +
      'ON CONFLICT DO NOTHING',
  );
}

async function expectVisible(locator, options = TIMEOUT) {
  await locator.waitFor({ state: 'visible', ...options });
}

async function open(query = '') {
  await page.goto(server.dashboardUrl(query));
  await expectVisible(widget().locator('.badges li').first());
}

const toggle = (name = 'Statistiques') => widget().getByRole('button', { name, exact: true });
const panel = (name = 'Statistiques des 30 derniers jours') => widget().getByRole('region', { name });
/// The value shown for a key figure (`data-figure`), its detail included.
const keyFigure = (name) => widget().locator(`[data-figure="${name}"] dd`).innerText();
const chart = (name) => widget().locator(`figure[data-chart="${name}"] svg.chart`);

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

async function openPanel(name, region) {
  await toggle(name).click();
  await expectVisible(panel(region).locator('[data-figure="raised"]'));
}

test('Statistiques shows the key figures of the seeded alerts, the charts and the rules; the list stays', async () => {
  seed();
  await open();
  await expectVisible(widget().getByText('Quatrième alerte ouverte'));
  // Closed at first: the list is the widget's view.
  assert.equal(await toggle().getAttribute('aria-expanded'), 'false');
  assert.equal(await widget().locator('#metrics').isVisible(), false);
  await openPanel();
  assert.equal(await toggle().getAttribute('aria-expanded'), 'true');
  assert.equal(await toggle().getAttribute('aria-controls'), 'metrics');
  await expectVisible(status().getByText('Statistiques des 30 derniers jours chargées.'));
  assert.equal(await keyFigure('raised'), '5');
  assert.equal(await keyFigure('resolved'), '3\n2 à la main, 1 automatiquement');
  assert.equal(await keyFigure('open'), '2');
  assert.match(await keyFigure('within24h'), /^40\s%$/);
  // Resolved after 30 min, 2 h and 3 days: a median of about 2 hours (the roll-ups' histograms
  // are within 10 %).
  const median = (await keyFigure('median-resolve')).match(/^(\d+) h(?: (\d+) min)?$/);
  assert.ok(median, 'a duration in hours and minutes');
  const minutes = Number(median[1]) * 60 + Number(median[2] || 0);
  assert.ok(minutes >= 108 && minutes <= 132, `${minutes} min`);
  assert.equal(await keyFigure('widget-users'), '3');
  assert.match(await panel().locator('.period').innerText(), /^30 derniers jours, du \d+ \S+ au \d+ \S+$/);

  // The charts: images summed up in words, one group of bars a day over 30 days.
  const raised = chart('raised');
  assert.equal(await raised.getAttribute('role'), 'img');
  assert.match(await raised.getAttribute('aria-label'), /^Alertes créées et résolues par jour, du \d+ \S+ au \d+ \S+ : 5 créées, 3 résolues$/);
  assert.equal(await raised.locator('rect.bar.raised').count(), 30);
  assert.equal(await raised.locator('rect.bar.resolved').count(), 30);
  const tall = (locator) => locator.evaluateAll((bars) => bars.filter((bar) => Number(bar.getAttribute('height')) > 0).length);
  assert.equal(await tall(raised.locator('rect.bar.raised')), 5); // raised on 5 different days
  const open_ = chart('open');
  assert.equal(await open_.getAttribute('role'), 'img');
  assert.match(await open_.getAttribute('aria-label'), /^Alertes ouvertes en fin de journée, .* : 2 à la fin de la période, \d+ au plus$/);
  assert.equal(await open_.locator('rect.bar').count(), 30);
  const users = chart('users');
  assert.equal(await users.getAttribute('role'), 'img');
  assert.match(await users.getAttribute('aria-label'), /^Utilisateurs du widget par jour, .* : 3 sur la période, 2 au plus en un jour$/);
  assert.equal(await users.locator('rect.bar').count(), 30);
  assert.equal(await tall(users.locator('rect.bar')), 3); // 2 days ago, 5 days ago, today

  // The same figures as tables, for screen readers: 30 days, the totals add up.
  const table = widget().locator('figure[data-chart="raised"] details table');
  assert.equal(await table.locator('tbody tr').count(), 30);
  const columnSum = (column) =>
    table.locator(`tbody tr td:nth-of-type(${column})`).evaluateAll((cells) => cells.reduce((sum, cell) => sum + Number(cell.textContent), 0));
  assert.equal(await columnSum(1), 5);
  assert.equal(await columnSum(2), 3);

  // By rule, in words.
  const rule = async (type) => (await widget().locator(`tr[data-rule="${type}"]`).innerText()).split('\t').map((s) => s.trim());
  assert.deepEqual((await rule('NoContact7d')).slice(0, 4), ['Sans contact', '2', '1', '1']);
  assert.deepEqual((await rule('UnansweredInbound')).slice(0, 4), ['Message sans réponse', '1', '1', '0']);
  assert.deepEqual(await rule('DeliveryFailed'), ['Message non délivré', '1', '0', '1', '—']);
  assert.deepEqual((await rule('NoReply3d')).slice(0, 4), ['Sans réponse du lead', '1', '1', '0']);

  // The list is still there, and the panel closes again.
  await expectVisible(widget().getByText('Cinquième alerte ouverte'));
  await toggle().click();
  assert.equal(await toggle().getAttribute('aria-expanded'), 'false');
  assert.equal(await widget().locator('#metrics').isVisible(), false);
  assert.deepEqual(errors, []);
});

test('lang=en: the metrics view in English', async () => {
  seed();
  await open('lang=en');
  await openPanel('Statistics', 'Statistics for the last 30 days');
  const region = panel('Statistics for the last 30 days');
  await expectVisible(region.getByText('Alerts raised', { exact: true }));
  assert.equal(await keyFigure('resolved'), '3\n2 by hand, 1 automatically');
  assert.match(await keyFigure('within24h'), /^40\s?%$/);
  assert.match(await region.locator('.period').innerText(), /^Last 30 days, \d+ \S+ to \d+ \S+$/);
  assert.match(await chart('raised').getAttribute('aria-label'), /^Alerts raised and resolved per day, .*: 5 raised, 3 resolved$/);
  assert.match(await chart('users').getAttribute('aria-label'), /: 3 over the period, 2 at most in a day$/);
  await expectVisible(region.getByRole('table', { name: 'By rule' }).getByText('No contact', { exact: true }));
  await expectVisible(region.getByText('Unanswered message', { exact: true }));
  await expectVisible(region.getByText('Message not delivered', { exact: true }));
  await expectVisible(region.getByText('No reply from the lead', { exact: true }));
  assert.equal(await region.getByText(/créées|Statistiques/).count(), 0);
  assert.deepEqual(errors, []);
});

test('a failing metrics call shows an error and a retry in the panel, says it, and leaves the list alone', async () => {
  seed();
  await open();
  await expectVisible(widget().getByText('Quatrième alerte ouverte'));
  await page.route('**/api/alerts/metrics*', (route) => failWith(route));
  await toggle().click();
  const failed = panel().getByText('Impossible de charger les statistiques pour le moment.');
  await expectVisible(failed);
  await expectVisible(status().getByText('Impossible de charger les statistiques pour le moment.'));
  // The alert list is untouched: no notice, the alerts and their badges are there.
  assert.equal(await widget().locator('.notice').innerText(), '');
  await expectVisible(widget().getByText('Quatrième alerte ouverte'));
  await expectVisible(widget().locator('.badges').getByText('Basse: 1', { exact: true }));
  // Retry, with the server answering again: the figures show, the focus stays in the panel.
  await page.unroute('**/api/alerts/metrics*');
  const retry = panel().getByRole('button', { name: 'Réessayer' });
  await retry.focus();
  await page.keyboard.press('Enter');
  await expectVisible(panel().locator('[data-figure="raised"]'));
  assert.equal(await keyFigure('raised'), '5');
  assert.equal(await failed.count(), 0);
  assert.equal(await widget().evaluate((host) => host.shadowRoot.activeElement?.id), 'metrics');
  assert.deepEqual(errors.filter((e) => !e.includes('500')), []);
});

test('the keyboard opens and closes the panel with Enter and Space, Escape gives the focus back', async () => {
  seed();
  await open();
  await expectVisible(widget().getByText('Quatrième alerte ouverte'));
  // The list comes first in the tab order: Actualiser, then the first alert's Résoudre.
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  assert.equal(await focused(), "Résoudre l'alerte de l5");
  await toggle().focus();
  await page.keyboard.press('Enter');
  await expectVisible(panel().locator('[data-figure="raised"]'));
  assert.equal(await toggle().getAttribute('aria-expanded'), 'true');
  assert.equal(await focused(), 'Statistiques');
  await page.keyboard.press('Space');
  assert.equal(await toggle().getAttribute('aria-expanded'), 'false');
  assert.equal(await widget().locator('#metrics').isVisible(), false);
  assert.equal(await focused(), 'Statistiques');
  await page.keyboard.press('Space');
  await expectVisible(panel().locator('[data-figure="raised"]'));
  // Tab goes into the panel: the first chart's data table opens with Enter.
  await page.keyboard.press('Tab');
  assert.match(await focused(), /^Données du graphique : Créées et résolues par jour$/);
  await page.keyboard.press('Enter');
  await expectVisible(widget().locator('figure[data-chart="raised"] details table'));
  // A refresh while open loads the figures again and keeps the table open and the focus.
  const metricsCall = page.waitForRequest('**/api/alerts/metrics');
  await widget().evaluate((host) => host.refresh());
  await metricsCall;
  await page.waitForFunction(() => document.querySelector('max-alerts').shadowRoot.querySelector('#metrics').getAttribute('aria-busy') === 'false');
  await expectVisible(widget().locator('figure[data-chart="raised"] details table'));
  assert.match(await focused(), /^Données du graphique/);
  // Escape from inside the panel closes it and gives the focus back to its button.
  await page.keyboard.press('Escape');
  assert.equal(await toggle().getAttribute('aria-expanded'), 'false');
  assert.equal(await widget().locator('#metrics').isVisible(), false);
  assert.equal(await focused(), 'Statistiques');
  assert.deepEqual(errors, []);
});

for (const lang of ['fr', 'en']) {
  test(`every request sends Accept-Language: ${lang} (lang=${lang})`, async () => {
    seed();
    const languages = [];
    page.on('request', (request) => {
      if (request.url().includes('/api/alerts')) languages.push([new URL(request.url()).pathname, request.headers()['accept-language']]);
    });
    await open(lang === 'en' ? 'lang=en' : '');
    await toggle(lang === 'en' ? 'Statistics' : 'Statistiques').click();
    await expectVisible(widget().locator('[data-figure="raised"]'));
    await widget().getByRole('button', { name: lang === 'en' ? 'History of the alert about l5' : "Historique de l'alerte de l5" }).click();
    await expectVisible(widget().getByRole('region', { name: lang === 'en' ? 'History of the alert about l5' : "Historique de l'alerte de l5" }).getByRole('listitem').first());
    const paths = languages.map(([path]) => path);
    assert.ok(paths.includes('/api/alerts/active'), paths.join(', '));
    assert.ok(paths.includes('/api/alerts/metrics'), paths.join(', '));
    assert.ok(paths.some((path) => /^\/api\/alerts\/[^/]+-[^/]+$/.test(path)), paths.join(', '));
    for (const [path, language] of languages) assert.equal(language, lang, path);
    assert.deepEqual(errors, []);
  });

  test(`axe-core finds no WCAG 2.1 A/AA violation with the metrics panel open (lang=${lang})`, async () => {
    // axe is injected as a script: the dashboard's Content Security Policy would refuse it.
    ({ page, errors } = await reopen({ timezoneId: TIME_ZONE, bypassCSP: true }));
    seed();
    const en = lang === 'en';
    await open(`lang=${lang}`);
    await openPanel(en ? 'Statistics' : 'Statistiques', en ? 'Statistics for the last 30 days' : 'Statistiques des 30 derniers jours');
    // Every chart's table open too.
    for (const summary of await widget().locator('details.data summary').all()) await summary.click();
    await expectVisible(widget().locator('figure[data-chart="users"] details table'));

    await page.addScriptTag({ path: AXE });
    const violations = await page.evaluate(async () => {
      const result = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
      return result.violations.map((v) => ({
        id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target, summary: n.failureSummary })),
      }));
    });
    assert.deepEqual(violations, [], JSON.stringify(violations, null, 2));

    // The failure state too.
    await page.route('**/api/alerts/metrics*', (route) => failWith(route));
    await widget().locator('[data-figure]').first().waitFor();
    await toggle(en ? 'Statistics' : 'Statistiques').click();
    await toggle(en ? 'Statistics' : 'Statistiques').click();
    await expectVisible(widget().getByRole('button', { name: en ? 'Try again' : 'Réessayer' }));
    const failedViolations = await page.evaluate(async () => {
      const result = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
      return result.violations.map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target) }));
    });
    assert.deepEqual(failedViolations, [], JSON.stringify(failedViolations, null, 2));
    assert.deepEqual(errors.filter((e) => !e.includes('500')), []);
  });
}

test("lang=en: a rule's alert reads in English, an alert written by hand as it was written", async () => {
  server.sql(
    'INSERT INTO max_alerts (tenant_id, lead_id, lead_name, type, severity, message, message_en, suggested_action) VALUES ' +
      "('macrea', 'lead_karim', 'Karim B.', 'NoContact7d', 'high', 'Aucun contact avec Karim B. depuis 9 jours', " +
      "'No contact with Karim B. for 9 days', '{\"label\": \"Relancer le lead\", \"action\": \"follow_up\"}'), " +
      "('macrea', 'lead_hand', NULL, 'Custom', 'low', 'Alerte écrite à la main', NULL, NULL)",
  );
  await open('lang=en');
  await expectVisible(widget().getByText('No contact with Karim B. for 9 days', { exact: true }));
  await expectVisible(widget().getByText('Follow up with the lead', { exact: false }));
  await expectVisible(widget().getByText('Alerte écrite à la main', { exact: true }));
  assert.equal(await widget().getByText('Aucun contact avec Karim B. depuis 9 jours').count(), 0);
  await open();
  await expectVisible(widget().getByText('Aucun contact avec Karim B. depuis 9 jours', { exact: true }));
  assert.deepEqual(errors, []);
});
