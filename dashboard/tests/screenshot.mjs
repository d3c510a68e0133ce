// Renders the demo dashboard with a few alerts to docs/widget.png (for the README):
//   cargo build -p max-local && npm run screenshot
import { fileURLToPath } from 'node:url';
import { SEED_INSERT, launchBrowser, newPage, startServer } from './harness.mjs';

const output = fileURLToPath(new URL('../../docs/widget.png', import.meta.url));
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
} finally {
  await browser.close();
  await server.stop();
}
