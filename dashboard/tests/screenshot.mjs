// Renders the demo dashboard with a few alerts to docs/widget.png (for the README), then its
// "Statistiques" view open, over a month of resolved demo alerts, to docs/widget-metrics.png:
//   cargo build -p max-local && npm run screenshot
import { fileURLToPath } from 'node:url';
import { SEED_INSERT, launchBrowser, newPage, startServer } from './harness.mjs';

const output = fileURLToPath(new URL('../../docs/widget.png', import.meta.url));
const metricsOutput = fileURLToPath(new URL('../../docs/widget-metrics.png', import.meta.url));
const server = await startServer();
const browser = await launchBrowser();
try {
  server.sql(SEED_INSERT);
  server.sql(`INSERT INTO max_alerts (tenant_id, lead_id, lead_name, type, severity, message, suggested_action, created_at, escalated_at) VALUES
    ('macrea', 'lead_sophie', 'Sophie Martin', 'UnansweredInbound', 'high', 'Sophie Martin a écrit il y a 1 jour, sans réponse', '{"label": "Répondre au lead", "action": "reply"}', now() - interval '26 hours', now()),
    ('macrea', 'lead_karim', 'Karim B.', 'NoContact7d', 'high', 'Aucun contact avec Karim B. depuis 9 jours', '{"label": "Relancer le lead", "action": "follow_up"}', now() - interval '2 days', NULL),
    ('macrea', 'lead_lea', 'Léa Dubois', 'NoReply3d', 'medium', 'Léa Dubois n''a pas répondu depuis 3 jours. Peut-être essayer WhatsApp ?', '{"label": "Relancer par un autre canal", "action": "switch_channel"}', now() - interval '5 hours', NULL)`);
  const { page } = await newPage(browser, { viewport: { width: 1100, height: 760 }, deviceScaleFactor: 1 });
  await page.goto(server.dashboardUrl());
  await page.locator('max-alerts').getByText('Sophie Martin', { exact: true }).waitFor();
  await page.screenshot({ path: output });
  console.log(`wrote ${output}`);

  // A month of alerts, all resolved (by hand, or automatically), and the users who opened the widget.
  server.sql(`INSERT INTO max_alerts (tenant_id, lead_id, type, severity, message, created_at, resolved_at, resolved_by, resolution)
    SELECT 'macrea', 'demo_' || d || '_' || n, (ARRAY['NoContact7d', 'UnansweredInbound', 'NoReply3d', 'DeliveryFailed'])[1 + (d + n) % 4],
           (ARRAY['high', 'medium', 'low'])[1 + (d * n) % 3], 'Alerte de démonstration', now() - d * interval '1 day',
           LEAST(now() - interval '1 minute', now() - d * interval '1 day' + ((n * 7 + d * 5) % 40 + 1) * interval '1 hour'),
           CASE WHEN (d + n) % 3 = 0 THEN NULL ELSE 'user:demo' END, CASE WHEN (d + n) % 3 = 0 THEN 'auto' ELSE 'manual' END
      FROM generate_series(1, 29) d, generate_series(1, 1 + d % 3 + (d * 7) % 2) n`);
  server.sql(`INSERT INTO max_widget_visits (tenant_id, day, user_id)
    SELECT 'macrea', (now() AT TIME ZONE max_tenant_time_zone('macrea'))::date - d, 'user_' || u
      FROM generate_series(0, 29) d, generate_series(1, 2 + (d * 5) % 4) u WHERE extract(isodow FROM now() - d * interval '1 day') < 6
    ON CONFLICT DO NOTHING`);
  await page.setViewportSize({ width: 1100, height: 1500 });
  await page.locator('max-alerts').getByRole('button', { name: 'Statistiques', exact: true }).click();
  await page.locator('max-alerts').locator('[data-figure="raised"]').waitFor();
  await page.locator('max-alerts').screenshot({ path: metricsOutput });
  console.log(`wrote ${metricsOutput}`);
} finally {
  await browser.close();
  await server.stop();
}
