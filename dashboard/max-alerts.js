// <max-alerts>: the "Alertes M.A.X." widget, a custom element any dashboard can embed.
//
//   <script type="module" src="https://…/max-alerts.js"></script>
//   <max-alerts api-base="https://max-api.example.com" token="…" refresh-interval="60" lang="fr"></max-alerts>
//
// Attributes: api-base (the gateway's base URL; empty for the same origin), token (a bearer token:
// a user's JWT; better kept out of the markup, see below), refresh-interval (seconds, default 60; 0 turns auto-refresh off), lang (fr, the
// default, or en). No framework and no build step; its styles live in a shadow root, so nothing
// leaks in or out. It lists the tenant's active alerts, most urgent first, and acts on each with
// one click: "Résoudre" (resolve), "Je m'en occupe" (acknowledge: the alert stays, marked as taken
// care of), "Reporter" (snooze for an hour, 4 hours, until tomorrow 09:00 or a week: the alert leaves
// the list until then, and the snoozed ones are counted apart). Every action is optimistic, undone
// with an error if the call fails, and said in the live region. "Historique" shows an alert's
// history (raised, escalated, acknowledged, snoozed… by whom, when) on demand. Below the list,
// "Statistiques" opens the metrics view of the last 30 days (GET /api/alerts/metrics): the key
// figures (raised, resolved by hand and automatically, still open, share resolved within 24 h,
// median time to resolve, widget users), three small inline-SVG charts per day (raised and
// resolved, open at the end of the day, widget users), each summed up in words and given as a
// table for screen readers, and the figures by rule; loaded when it opens and on every refresh
// while open, and a failure there never touches the list. It refreshes itself while the page is
// visible, and catches up as soon as it shows again. Every request sends `Accept-Language` with
// the widget's language. Keyboard and screen-reader usable; its colours pass WCAG 2.1 AA (checked
// with axe-core in the tests).
//
// A real app whose sign-in refreshes its tokens gives the widget a way to ask, rather than a token
// in the markup: `widget.getToken = () => auth.currentToken()` (a function returning the token, or
// a promise of it), called before every request; or the `token` property (`widget.token = t`),
// which a refresh replaces. Either also works when set before the element is defined.

const STRINGS = {
  fr: {
    title: 'Alertes M.A.X.',
    high: 'Haute',
    medium: 'Moyenne',
    low: 'Basse',
    refresh: 'Actualiser',
    locale: 'fr-FR',
    resolve: 'Résoudre',
    resolveLabel: (lead) => `Résoudre l'alerte de ${lead}`,
    acknowledge: "Je m'en occupe",
    acknowledgeLabel: (lead) => `Je m'en occupe (alerte de ${lead})`,
    acknowledgedMark: '✓ Pris en charge',
    acknowledgedTitle: (when) => `Pris en charge ${when}`,
    acknowledged: (lead) => `Alerte de ${lead} prise en charge.`,
    acknowledgeFailed: (lead) => `La prise en charge de l'alerte de ${lead} a échoué. Réessayez.`,
    snooze: 'Reporter',
    snoozeLabel: (lead) => `Reporter l'alerte de ${lead}`,
    snoozeChoices: { '1h': '1 heure', '4h': '4 heures', tomorrow: 'Demain 9 h', '1w': '1 semaine' },
    snoozed: (lead, when) => `Alerte de ${lead} reportée jusqu'à ${when}.`,
    snoozeFailed: (lead) => `Le report de l'alerte de ${lead} a échoué. Réessayez.`,
    snoozedCount: (n) => `${n} en pause`,
    history: 'Historique',
    historyLabel: (lead) => `Historique de l'alerte de ${lead}`,
    historyLoading: "Chargement de l'historique…",
    historyFailed: "Impossible de charger l'historique pour le moment.",
    events: {
      raised: 'Levée',
      reworded: 'Reformulée',
      escalated: 'Escaladée',
      acknowledged: 'Prise en charge',
      snoozed: (until) => (until ? `Reportée jusqu'à ${until}` : 'Reportée'),
      woken: 'Réveillée',
      resolved: 'Résolue',
      resolvedAuto: 'Résolue automatiquement',
    },
    by: (who) => `par ${who}`,
    apiKey: (prefix) => `la clé d'API ${prefix}`,
    today: (time) => time,
    tomorrow: (time) => `demain ${time}`,
    openLead: (lead) => `Ouvrir la fiche de ${lead} dans le CRM (nouvel onglet)`,
    escalated: 'Escaladée',
    escalatedLabel: 'Escaladée : ouverte depuis plus de 24 heures',
    empty: "R.A.S. aujourd'hui. Ton pipeline est propre.",
    loading: 'Chargement des alertes…',
    notConfigured: 'Widget non configuré : il lui faut un jeton de connexion (getToken ou token).',
    loadFailed: 'Impossible de charger les alertes pour le moment.',
    unauthorized: 'Session expirée : reconnectez-vous pour voir les alertes.',
    lastUpdated: (time) => `Dernière mise à jour à ${time}.`,
    resolveFailed: (lead) => `La résolution de l'alerte de ${lead} a échoué. Réessayez.`,
    resolved: (lead) => `Alerte de ${lead} résolue.`,
    count: (n) => (n === 0 ? 'Aucune alerte active.' : n === 1 ? '1 alerte active.' : `${n} alertes actives.`),
    more: (n) => (n === 1 ? '1 autre alerte moins urgente.' : `${n} autres alertes moins urgentes.`),
    listLabel: 'Alertes actives',
    badgesLabel: 'Alertes par sévérité',
    ago: (n, unit) => (unit === 'now' ? "à l'instant" : `il y a ${n} ${{ min: 'min', h: 'h', d: 'j' }[unit]}`),
    metrics: 'Statistiques',
    metricsLabel: 'Statistiques des 30 derniers jours',
    metricsPeriod: (from, to) => `30 derniers jours, du ${from} au ${to}`,
    metricsLoading: 'Chargement des statistiques…',
    metricsFailed: 'Impossible de charger les statistiques pour le moment.',
    metricsLoaded: 'Statistiques des 30 derniers jours chargées.',
    retry: 'Réessayer',
    figures: {
      raised: 'Alertes créées',
      resolved: 'Résolues',
      resolvedSplit: (manual, auto) => `${manual} à la main, ${auto} automatiquement`,
      open: 'Encore ouvertes',
      within24h: 'Résolues en moins de 24 h',
      medianResolve: 'Délai médian de résolution',
      widgetUsers: 'Utilisateurs du widget',
    },
    none: '—',
    colon: ' : ',
    duration: { s: 's', min: 'min', h: 'h', d: 'j' },
    chartRaised: {
      title: 'Créées et résolues par jour',
      label: (from, to, raised, resolved) => `Alertes créées et résolues par jour, du ${from} au ${to} : ${raised} créées, ${resolved} résolues`,
      raised: 'Créées',
      resolved: 'Résolues',
    },
    chartOpen: {
      title: 'Alertes ouvertes en fin de journée',
      label: (from, to, last, peak) => `Alertes ouvertes en fin de journée, du ${from} au ${to} : ${last} à la fin de la période, ${peak} au plus`,
      value: 'Ouvertes',
    },
    chartUsers: {
      title: 'Utilisateurs du widget par jour',
      label: (from, to, users, peak) => `Utilisateurs du widget par jour, du ${from} au ${to} : ${users} sur la période, ${peak} au plus en un jour`,
      value: 'Utilisateurs',
    },
    chartData: 'Données du graphique',
    day: 'Jour',
    byRule: 'Par règle',
    rule: 'Règle',
    rules: {
      UnansweredInbound: 'Message sans réponse',
      DeliveryFailed: 'Message non délivré',
      NoContact7d: 'Sans contact',
      NoReply3d: 'Sans réponse du lead',
    },
    ruleColumns: { raised: 'Créées', resolved: 'Résolues', open: 'Ouvertes', median: 'Délai médian' },
  },
  en: {
    title: 'M.A.X. Alerts',
    high: 'High',
    medium: 'Medium',
    low: 'Low',
    refresh: 'Refresh',
    locale: 'en-GB',
    resolve: 'Resolve',
    resolveLabel: (lead) => `Resolve the alert about ${lead}`,
    acknowledge: "I'm on it",
    acknowledgeLabel: (lead) => `I'm on it (alert about ${lead})`,
    acknowledgedMark: '✓ Acknowledged',
    acknowledgedTitle: (when) => `Acknowledged ${when}`,
    acknowledged: (lead) => `Alert about ${lead} acknowledged.`,
    acknowledgeFailed: (lead) => `Acknowledging the alert about ${lead} failed. Please try again.`,
    snooze: 'Snooze',
    snoozeLabel: (lead) => `Snooze the alert about ${lead}`,
    snoozeChoices: { '1h': '1 hour', '4h': '4 hours', tomorrow: 'Tomorrow 9:00', '1w': '1 week' },
    snoozed: (lead, when) => `Alert about ${lead} snoozed until ${when}.`,
    snoozeFailed: (lead) => `Snoozing the alert about ${lead} failed. Please try again.`,
    snoozedCount: (n) => `${n} snoozed`,
    history: 'History',
    historyLabel: (lead) => `History of the alert about ${lead}`,
    historyLoading: 'Loading the history…',
    historyFailed: 'The history cannot be loaded right now.',
    events: {
      raised: 'Raised',
      reworded: 'Reworded',
      escalated: 'Escalated',
      acknowledged: 'Acknowledged',
      snoozed: (until) => (until ? `Snoozed until ${until}` : 'Snoozed'),
      woken: 'Woken',
      resolved: 'Resolved',
      resolvedAuto: 'Resolved automatically',
    },
    by: (who) => `by ${who}`,
    apiKey: (prefix) => `the API key ${prefix}`,
    today: (time) => time,
    tomorrow: (time) => `tomorrow ${time}`,
    openLead: (lead) => `Open ${lead} in the CRM (new tab)`,
    escalated: 'Escalated',
    escalatedLabel: 'Escalated: open for more than 24 hours',
    empty: 'All clear today. Your pipeline is clean.',
    loading: 'Loading alerts…',
    notConfigured: 'Widget not configured: it needs a sign-in token (getToken or token).',
    loadFailed: 'The alerts cannot be loaded right now.',
    unauthorized: 'Session expired: sign in again to see the alerts.',
    lastUpdated: (time) => `Last updated at ${time}.`,
    resolveFailed: (lead) => `Resolving the alert about ${lead} failed. Please try again.`,
    resolved: (lead) => `Alert about ${lead} resolved.`,
    count: (n) => (n === 0 ? 'No active alert.' : n === 1 ? '1 active alert.' : `${n} active alerts.`),
    more: (n) => (n === 1 ? '1 more, less urgent alert.' : `${n} more, less urgent alerts.`),
    listLabel: 'Active alerts',
    badgesLabel: 'Alerts by severity',
    ago: (n, unit) => (unit === 'now' ? 'just now' : `${n} ${{ min: 'min', h: 'h', d: 'd' }[unit]} ago`),
    metrics: 'Statistics',
    metricsLabel: 'Statistics for the last 30 days',
    metricsPeriod: (from, to) => `Last 30 days, ${from} to ${to}`,
    metricsLoading: 'Loading the statistics…',
    metricsFailed: 'The statistics cannot be loaded right now.',
    metricsLoaded: 'Statistics for the last 30 days loaded.',
    retry: 'Try again',
    figures: {
      raised: 'Alerts raised',
      resolved: 'Resolved',
      resolvedSplit: (manual, auto) => `${manual} by hand, ${auto} automatically`,
      open: 'Still open',
      within24h: 'Resolved within 24 h',
      medianResolve: 'Median time to resolve',
      widgetUsers: 'Widget users',
    },
    none: '—',
    colon: ': ',
    duration: { s: 's', min: 'min', h: 'h', d: 'd' },
    chartRaised: {
      title: 'Raised and resolved per day',
      label: (from, to, raised, resolved) => `Alerts raised and resolved per day, ${from} to ${to}: ${raised} raised, ${resolved} resolved`,
      raised: 'Raised',
      resolved: 'Resolved',
    },
    chartOpen: {
      title: 'Open alerts at the end of each day',
      label: (from, to, last, peak) => `Open alerts at the end of each day, ${from} to ${to}: ${last} at the end of the period, ${peak} at most`,
      value: 'Open',
    },
    chartUsers: {
      title: 'Widget users per day',
      label: (from, to, users, peak) => `Widget users per day, ${from} to ${to}: ${users} over the period, ${peak} at most in a day`,
      value: 'Users',
    },
    chartData: 'Chart data',
    day: 'Day',
    byRule: 'By rule',
    rule: 'Rule',
    rules: {
      UnansweredInbound: 'Unanswered message',
      DeliveryFailed: 'Message not delivered',
      NoContact7d: 'No contact',
      NoReply3d: 'No reply from the lead',
    },
    ruleColumns: { raised: 'Raised', resolved: 'Resolved', open: 'Open', median: 'Median time' },
  },
};

const STYLE = `
:host {
  display: block;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--max-alerts-text, #1d2433);
  --high: var(--max-alerts-high, #c0392b);
  /* Badge backgrounds under white text: each at least 4.5:1 (WCAG 2.1 AA), the amber darkened for it. */
  --medium: var(--max-alerts-medium, #9a6108);
  --low: var(--max-alerts-low, #2e7d6b);
}
:host([hidden]) { display: none; }
.panel {
  background: var(--max-alerts-background, #fff);
  border: 1px solid var(--max-alerts-border, #dde3ec);
  border-radius: 12px;
  padding: 16px;
}
header { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 12px; }
h2 { font-size: 16px; margin: 0; flex: 1 0 auto; }
.badges { display: flex; flex-wrap: wrap; gap: 6px; margin: 0; padding: 0; list-style: none; }
.badge { border-radius: 999px; padding: 2px 10px; font-weight: 600; font-size: 12px; color: #fff; white-space: nowrap; }
.badge.high { background: var(--high); }
.badge.medium { background: var(--medium); }
.badge.low { background: var(--low); }
.badge.snoozed { background: #eef2f7; color: #5a6478; font-weight: 400; }
button {
  font: inherit; cursor: pointer; border-radius: 8px; padding: 4px 12px;
  border: 1px solid var(--max-alerts-border, #c9d2df); background: #f6f8fb; color: inherit;
}
button:hover { background: #edf1f7; }
button:focus-visible { outline: 3px solid var(--max-alerts-focus, #2f6fde); outline-offset: 2px; }
button[disabled] { opacity: .6; cursor: progress; }
.status { margin: 10px 0 0; color: #5a6478; font-size: 12px; min-height: 1em; }
.notice { margin: 10px 0 0; padding: 8px 10px; border-radius: 8px; background: #fdf2e9; color: #7a3e0c; }
.notice:empty { display: none; }
.empty { margin: 14px 0 4px; padding: 14px; border-radius: 8px; background: #eef7f3; color: #1f5e4e; }
ul.alerts { list-style: none; margin: 12px 0 0; padding: 0; display: grid; gap: 8px; }
li.alert {
  display: grid; gap: 4px;
  padding: 10px 12px; border-radius: 8px; border: 1px solid #e6eaf1; border-left: 4px solid var(--low);
}
li.alert.high { border-left-color: var(--high); }
li.alert.medium { border-left-color: var(--medium); }
li.alert.escalated { background: #fff6f5; }
.lead { font-weight: 600; }
a.lead { color: inherit; text-decoration: underline; text-decoration-color: #9aa3b5; text-underline-offset: 2px; }
a.lead:hover { text-decoration-color: currentColor; }
.message { margin: 0; }
.meta { display: flex; flex-wrap: wrap; gap: 4px 12px; color: #5a6478; font-size: 12px; }
.mark { color: var(--high); font-weight: 600; }
.mark.acknowledged { color: #1f5e4e; }
.actions { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 4px; }
.actions button { padding: 2px 10px; font-size: 13px; }
.actions button[aria-expanded="true"] { background: #e3e9f2; }
/* The snooze choices take a line of their own, right after "Reporter" (also in the tab order). */
.choices { display: flex; flex-wrap: wrap; gap: 6px; flex-basis: 100%; }
.choices[hidden], .history[hidden] { display: none; }
.history { font-size: 12px; color: #5a6478; }
.history p { margin: 4px 0 0; }
.history ol { margin: 4px 0 0; padding-left: 20px; display: grid; gap: 2px; }
.history .what { color: var(--max-alerts-text, #1d2433); }
.history q { font-style: italic; }
.more { margin: 8px 0 0; color: #5a6478; font-size: 12px; }
[aria-busy="true"] .status::before { content: "⟳ "; }
/* The metrics view ("Statistiques"): key figures, three small charts, a table by rule. */
.metrics-toggle-bar { margin: 12px 0 0; }
.metrics-toggle[aria-expanded="true"] { background: #e3e9f2; }
.metrics {
  margin: 10px 0 0; padding: 12px 0 0; border-top: 1px solid #e6eaf1;
  display: grid; grid-template-columns: minmax(0, 1fr); gap: 14px;
}
.metrics[hidden] { display: none; }
.metrics:focus { outline: none; }
.metrics:focus-visible { outline: 3px solid var(--max-alerts-focus, #2f6fde); outline-offset: 2px; }
.metrics h3 { font-size: 15px; margin: 0; }
.metrics h4 { font-size: 13px; margin: 0 0 4px; }
.metrics .period, .metrics .note { margin: 2px 0 0; color: #5a6478; font-size: 12px; }
.metrics .failed { margin: 0; display: flex; flex-wrap: wrap; align-items: center; gap: 8px; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); gap: 8px; margin: 0; }
.figures div { padding: 8px 10px; border-radius: 8px; background: #f6f8fb; }
.figures dt { color: #5a6478; font-size: 12px; }
.figures dd { margin: 0; font-size: 20px; font-weight: 600; }
.figures dd small { display: block; font-size: 12px; font-weight: 400; color: #5a6478; }
.metrics figure { margin: 0; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 0 0 4px; padding: 0; list-style: none; font-size: 12px; }
.legend svg { width: 12px; height: 12px; vertical-align: -1px; margin-right: 4px; }
svg.chart { display: block; width: 100%; height: auto; max-height: 180px; }
svg.chart text { font-size: 12px; fill: #5a6478; }
svg.chart .axis { stroke: #9aa3b5; stroke-width: 1; }
.bar.raised { fill: #2f5fb3; }
.bar.resolved { fill: #fff; stroke: #1f5e4e; stroke-width: 2; }
.bar.open { fill: #9a6108; }
.bar.users { fill: #2e7d6b; }
details.data { font-size: 12px; margin-top: 4px; }
details.data summary { cursor: pointer; color: #5a6478; }
.metrics table { border-collapse: collapse; font-size: 12px; margin-top: 4px; }
table.rules { width: 100%; }
.metrics caption { text-align: left; font-weight: 600; font-size: 13px; margin-bottom: 4px; }
.metrics th, .metrics td { padding: 2px 4px; text-align: right; border-bottom: 1px solid #e6eaf1; }
.metrics th:first-child, .metrics td:first-child { text-align: left; }
.metrics thead th { color: #5a6478; font-weight: 400; vertical-align: bottom; }
.visually-hidden {
  position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0;
}
@media (prefers-reduced-motion: no-preference) { li.alert { transition: opacity .15s; } }
`;

const SEVERITIES = ['high', 'medium', 'low'];

/// How long ago an ISO date was, in the widget's words ("il y a 3 j").
function age(iso, words, now = Date.now()) {
  const minutes = Math.floor((now - Date.parse(iso)) / 60000);
  if (!(minutes >= 1)) return words.ago(0, 'now');
  if (minutes < 60) return words.ago(minutes, 'min');
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return words.ago(hours, 'h');
  return words.ago(Math.floor(hours / 24), 'd');
}

/// A moment ahead in the widget's words, in the browser's time zone: "14:30", "demain 09:00",
/// "mardi 15 déc. 09:00".
function moment(iso, words, now = new Date()) {
  const date = new Date(iso);
  const time = date.toLocaleTimeString(words.locale, { hour: '2-digit', minute: '2-digit' });
  const midnight = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((midnight(date) - midnight(now)) / 86_400_000);
  if (days === 0) return words.today(time);
  if (days === 1) return words.tomorrow(time);
  return `${date.toLocaleDateString(words.locale, { weekday: 'long', day: 'numeric', month: 'short' })} ${time}`;
}

/// When an event of the history happened: the date and the time ("6 déc., 14:30").
function eventTime(iso, words) {
  return new Date(iso).toLocaleString(words.locale, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

/// Who acted, readably: `user:demo` is "demo", `api-key:mxk_macrea_Iw` "la clé d'API mxk_macrea_Iw".
function actorName(actor, words) {
  if (actor.startsWith('user:')) return actor.slice(5);
  if (actor.startsWith('api-key:')) return words.apiKey(actor.slice(8));
  return actor;
}

/// What happened, in words: "Prise en charge par demo", "Résolue automatiquement".
function eventText(event, words) {
  const kinds = words.events;
  let what;
  if (event.kind === 'snoozed') what = kinds.snoozed(event.until ? moment(event.until, words) : '');
  else if (event.kind === 'resolved' && event.resolution === 'auto') what = kinds.resolvedAuto;
  else what = typeof kinds[event.kind] === 'string' ? kinds[event.kind] : event.kind;
  return event.actor ? `${what} ${words.by(actorName(event.actor, words))}` : what;
}

/// The snooze choices: the request's body, and when the alert comes back. "Tomorrow" is 09:00 in
/// the browser's time zone, sent as an instant (the server takes any RFC 3339 zone).
const SNOOZES = ['1h', '4h', 'tomorrow', '1w'];
function snoozeRequest(choice, now = new Date()) {
  const hours = { '1h': 1, '4h': 4, '1w': 24 * 7 }[choice];
  if (hours) {
    return { body: { for: choice === '1w' ? '7d' : choice }, until: new Date(now.getTime() + hours * 3_600_000) };
  }
  const until = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1, 9, 0, 0);
  return { body: { until: until.toISOString() }, until };
}

/// The lead's name, a link to its page in the CRM when the lead directory has one (http or https
/// only: a link is never `javascript:`).
function leadElement(alert, lead, words) {
  if (typeof alert.leadUrl === 'string' && /^https?:\/\//i.test(alert.leadUrl)) {
    return element('a', {
      class: 'lead', href: alert.leadUrl, target: '_blank', rel: 'noopener noreferrer', title: words.openLead(lead), text: lead,
    });
  }
  return element('span', { class: 'lead', text: lead });
}

/// A tenant's day ("2026-11-07") in the widget's words: "7 nov.". The day is a calendar date,
/// not an instant: it is read and written in UTC so that no time zone moves it.
function dayLabel(day, words) {
  return new Date(`${day}T00:00:00Z`).toLocaleDateString(words.locale, { day: 'numeric', month: 'short', timeZone: 'UTC' });
}

/// A waiting time in whole seconds, readably: "45 s", "12 min", "2 h 10 min", "3 j 4 h".
function duration(seconds, words) {
  const unit = words.duration;
  if (seconds < 60) return `${Math.max(0, Math.round(seconds))} ${unit.s}`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} ${unit.min}`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 ? `${hours} ${unit.h} ${minutes % 60} ${unit.min}` : `${hours} ${unit.h}`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days} ${unit.d} ${hours % 24} ${unit.h}` : `${days} ${unit.d}`;
}

/// The median time to resolve of a set of figures, or a dash when nothing was resolved.
function medianResolve(figures, words) {
  return figures.timeToResolve ? duration(figures.timeToResolve.medianSeconds, words) : words.none;
}

const resolvedCount = (figures) => (figures.resolvedManually || 0) + (figures.resolvedAutomatically || 0);

/// A small bar chart of the period's days in inline SVG: for each day, one bar a series side by
/// side; the highest value on the left, the first and last days below. Screen readers get its
/// `label` (a summary in words); each day's figures show on hover.
function barChart(days, series, label, words) {
  const width = 480;
  const height = 120;
  const top = 10;
  const bottom = 18;
  const left = 26;
  const plot = height - top - bottom;
  const max = Math.max(1, ...days.flatMap((day) => series.map((s) => s.value(day))));
  const slot = (width - left) / Math.max(1, days.length);
  const barWidth = Math.max(1, (slot - 2) / series.length);
  const svg = svgElement(
    'svg',
    { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label, focusable: 'false' },
    svgElement('line', { class: 'axis', x1: left, x2: width, y1: top + plot, y2: top + plot }),
    svgElement('text', { x: left - 4, y: top + 8, 'text-anchor': 'end', text: String(max) }),
    svgElement('text', { x: left - 4, y: top + plot, 'text-anchor': 'end', text: '0' }),
  );
  days.forEach((day, i) => {
    const group = svgElement('g', { 'data-day': day.day });
    series.forEach((s, j) => {
      const value = s.value(day);
      const barHeight = (value / max) * plot;
      group.append(svgElement('rect', {
        class: `bar ${s.className}`, x: (left + i * slot + 1 + j * barWidth).toFixed(1), y: (top + plot - barHeight).toFixed(1),
        width: barWidth.toFixed(1), height: barHeight.toFixed(1),
      }));
    });
    group.append(svgElement('title', { text: `${dayLabel(day.day, words)}${words.colon}${series.map((s) => `${s.name} ${s.value(day)}`).join(', ')}` }));
    svg.append(group);
  });
  if (days.length > 0) {
    svg.append(
      svgElement('text', { x: left, y: height - 4, text: dayLabel(days[0].day, words) }),
      svgElement('text', { x: width, y: height - 4, 'text-anchor': 'end', text: dayLabel(days[days.length - 1].day, words) }),
    );
  }
  return svg;
}

/// A chart with its title, its legend when it has several series, and its figures as a table
/// (in a <details>, for whoever wants the numbers rather than the bars).
function chartFigure(name, title, days, series, label, words) {
  const figure = element('figure', { class: `chart-${name}`, 'data-chart': name }, element('h4', { text: title }));
  if (series.length > 1) {
    figure.append(element(
      'ul',
      { class: 'legend' },
      ...series.map((s) => element(
        'li',
        {},
        svgElement('svg', { viewBox: '0 0 12 12', 'aria-hidden': 'true', focusable: 'false' },
          svgElement('rect', { class: `bar ${s.className}`, x: 1, y: 1, width: 10, height: 10 })),
        s.name,
      )),
    ));
  }
  figure.append(barChart(days, series, label, words));
  figure.append(element(
    'details',
    { class: 'data' },
    element('summary', { 'data-focus': `data-${name}` }, words.chartData, element('span', { class: 'visually-hidden', text: `${words.colon}${title}` })),
    element(
      'table',
      {},
      element('caption', { class: 'visually-hidden', text: title }),
      element('thead', {}, element('tr', {}, element('th', { scope: 'col', text: words.day }), ...series.map((s) => element('th', { scope: 'col', text: s.name })))),
      element('tbody', {}, ...days.map((day) => element(
        'tr',
        {},
        element('th', { scope: 'row', text: dayLabel(day.day, words) }),
        ...series.map((s) => element('td', { text: String(s.value(day)) })),
      ))),
    ),
  ));
  return figure;
}

function svgElement(tag, attributes = {}, ...children) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === 'text') node.textContent = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === 'text') node.textContent = value;
    else node.setAttribute(name, value === true ? '' : value);
  }
  node.append(...children);
  return node;
}

class MaxAlerts extends HTMLElement {
  static get observedAttributes() {
    return ['api-base', 'token', 'refresh-interval', 'lang'];
  }

  constructor() {
    super();
    this._root = this.attachShadow({ mode: 'open' });
    this._data = null; // { stats, alerts, nextCursor }
    this._leaving = new Set(); // alerts out of the list while their resolve or snooze is on its way
    this._acknowledging = new Set(); // alerts shown acknowledged while the call is on its way
    this._snoozeOpen = null; // the alert whose snooze choices are open (one at a time)
    this._historyOpen = new Set();
    this._histories = new Map(); // id → { state: 'loading' | 'failed' | 'ready', events }
    this._metricsOpen = false;
    this._metrics = { state: 'idle', data: null }; // state: 'idle' | 'loading' | 'failed' | 'ready'
    this._metricsSequence = 0;
    this._metricsShown = null; // what the metrics panel shows now: { lang, content }
    this._lastUpdated = null;
    this._lastAttempt = 0;
    this._loading = false;
    this._error = ''; // the calm notice shown above the list
    this._sequence = 0;
    this._timer = null;
    this._onVisibility = () => this._visibilityChanged();
    this._build();
  }

  connectedCallback() {
    this._adoptProperty('token');
    this._adoptProperty('getToken');
    document.addEventListener('visibilitychange', this._onVisibility);
    this.refresh();
  }

  disconnectedCallback() {
    document.removeEventListener('visibilitychange', this._onVisibility);
    clearTimeout(this._timer);
    this._timer = null;
  }

  attributeChangedCallback(name, previous, value) {
    if (previous === value || !this.isConnected) return;
    if (name === 'lang') this._render();
    else if (name === 'refresh-interval') this._schedule();
    else this.refresh();
  }

  /// The widget's language: `fr` (the default) or `en`.
  get _lang() {
    const lang = (this.getAttribute('lang') || 'fr').slice(0, 2).toLowerCase();
    return Object.hasOwn(STRINGS, lang) ? lang : 'fr';
  }

  get _words() {
    return STRINGS[this._lang];
  }

  get _interval() {
    const seconds = Number(this.getAttribute('refresh-interval') ?? 60);
    return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
  }

  _url(path) {
    return `${(this.getAttribute('api-base') || '').replace(/\/+$/, '')}${path}`;
  }

  /// The token given as a property (`widget.token = …`), else the attribute's.
  get token() {
    return this._token ?? this.getAttribute('token');
  }

  set token(value) {
    this._token = value || null;
    if (this.isConnected) this.refresh();
  }

  /// The host page's way to hand over a fresh token before each request (a function returning
  /// the token or a promise of it).
  get getToken() {
    return this._getToken || null;
  }

  set getToken(callback) {
    this._getToken = typeof callback === 'function' ? callback : null;
    if (this.isConnected) this.refresh();
  }

  /// A property set on the element before it was defined would hide the accessors: take it over.
  _adoptProperty(name) {
    if (Object.prototype.hasOwnProperty.call(this, name)) {
      const value = this[name];
      delete this[name];
      this[name] = value;
    }
  }

  _configured() {
    return Boolean(this._getToken || this.token);
  }

  async _currentToken() {
    if (this._getToken) {
      try {
        return (await this._getToken()) || '';
      } catch {
        return '';
      }
    }
    return this.token || '';
  }

  /// A call to the API; `body`, when given, is sent as JSON.
  async _request(path, { body, ...options } = {}) {
    const token = await this._currentToken();
    // Accept-Language: the server words what it can (alert messages) in the reader's language.
    const headers = { Accept: 'application/json', 'Accept-Language': this._lang, Authorization: `Bearer ${token}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    return fetch(this._url(path), {
      ...options,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  }

  /// A POST or DELETE on an alert: the answer's alert when it went through, else null.
  async _act(id, action, options) {
    try {
      const response = await this._request(`/api/alerts/${encodeURIComponent(id)}/${action}`, options);
      const body = await response.json().catch(() => null);
      return response.ok ? body?.alert || {} : null;
    } catch {
      return null;
    }
  }

  /// Loads the active alerts now (the "Actualiser" button, the timer, a change of attribute).
  async refresh() {
    clearTimeout(this._timer);
    this._timer = null;
    if (!this._configured()) {
      this._error = this._words.notConfigured;
      this._render();
      return;
    }
    const sequence = ++this._sequence;
    this._lastAttempt = Date.now();
    if (this._metricsOpen) this._loadMetrics();
    this._loading = true;
    this._render();
    try {
      const response = await this._request('/api/alerts/active?limit=50');
      const body = await response.json().catch(() => null);
      if (sequence !== this._sequence) return;
      if (!response.ok || !body || body.success !== true) {
        this._error = response.status === 401 ? this._words.unauthorized : this._words.loadFailed;
      } else {
        this._data = body;
        this._lastUpdated = new Date();
        this._error = '';
      }
    } catch {
      if (sequence !== this._sequence) return;
      this._error = this._words.loadFailed;
    } finally {
      if (sequence === this._sequence) {
        this._loading = false;
        this._render();
        this._schedule();
      }
    }
  }

  /// Resolves an alert: it leaves the list at once, and comes back with an error if the call fails.
  async resolve(id) {
    const alert = this._data?.alerts.find((a) => a.id === id);
    if (!alert || this._leaving.has(id)) return;
    const lead = alert.leadName || alert.leadId;
    this._leave(id);
    const ok = (await this._act(id, 'resolve', { method: 'POST' })) !== null;
    this._leaving.delete(id);
    if (ok) {
      this._drop(alert);
      this._announce(this._words.resolved(lead));
    } else {
      this._error = this._words.resolveFailed(lead);
    }
    this._render();
  }

  /// Snoozes an alert ('1h', '4h', 'tomorrow' or '1w'): like resolve, it leaves the list and the
  /// counts at once and comes back with an error if the call fails; the snoozed count grows.
  async snooze(id, choice) {
    const alert = this._data?.alerts.find((a) => a.id === id);
    if (!alert || this._leaving.has(id) || !SNOOZES.includes(choice)) return;
    const lead = alert.leadName || alert.leadId;
    const { body, until } = snoozeRequest(choice);
    this._leave(id);
    const answer = await this._act(id, 'snooze', { method: 'POST', body });
    this._leaving.delete(id);
    if (answer !== null) {
      this._drop(alert);
      this._data = { ...this._data, stats: { ...this._data.stats, snoozed: (this._data.stats.snoozed || 0) + 1 } };
      this._announce(this._words.snoozed(lead, moment(answer.snoozedUntil || until, this._words)));
    } else {
      this._error = this._words.snoozeFailed(lead);
    }
    this._render();
  }

  /// Acknowledges an alert ("Je m'en occupe"): it is marked at once and stays listed; the mark goes,
  /// with an error, if the call fails.
  async acknowledge(id) {
    const alert = this._data?.alerts.find((a) => a.id === id);
    if (!alert || alert.acknowledgedAt || this._acknowledging.has(id)) return;
    const lead = alert.leadName || alert.leadId;
    const hadFocus = this._root.activeElement?.dataset?.action === 'acknowledge';
    this._acknowledging.add(id);
    this._error = '';
    this._render();
    // The button is gone: the focus moves on to the alert's next action rather than being lost.
    if (hadFocus) this._actionButton(id, 'history')?.focus();
    const answer = await this._act(id, 'acknowledge', { method: 'POST' });
    this._acknowledging.delete(id);
    if (answer !== null) {
      const acknowledged = { acknowledgedAt: new Date().toISOString(), ...answer };
      if (acknowledged.resolvedAt) {
        this._drop(alert); // Resolved meanwhile, by someone else: it leaves the list.
      } else {
        this._data = { ...this._data, alerts: this._data.alerts.map((a) => (a.id === id ? { ...a, ...acknowledged } : a)) };
      }
      this._announce(this._words.acknowledged(lead));
      if (this._historyOpen.has(id)) this._loadHistory(id);
    } else {
      this._error = this._words.acknowledgeFailed(lead);
    }
    this._render();
  }

  /// Opens or closes an alert's history; opening it loads it afresh.
  toggleHistory(id) {
    if (this._historyOpen.delete(id)) {
      this._render();
      return;
    }
    this._historyOpen.add(id);
    this._loadHistory(id);
  }

  async _loadHistory(id) {
    const previous = this._histories.get(id);
    const loading = { state: 'loading', events: previous?.events || [] };
    this._histories.set(id, loading);
    this._render();
    let next = { state: 'failed', events: [] };
    try {
      const response = await this._request(`/api/alerts/${encodeURIComponent(id)}`);
      const body = await response.json().catch(() => null);
      if (response.ok && body?.success === true && Array.isArray(body.history)) next = { state: 'ready', events: body.history };
    } catch {
      // Said in words in the panel.
    }
    if (this._histories.get(id) !== loading) return; // A newer load took over.
    this._histories.set(id, next);
    this._render();
  }

  /// Opens or closes the metrics view ("Statistiques"); opening it loads the metrics afresh.
  toggleMetrics() {
    this._metricsOpen = !this._metricsOpen;
    if (this._metricsOpen) {
      this._loadMetrics(true);
    } else {
      this._metricsSequence += 1; // A load on its way is of no use any more.
      if (this._metrics.state === 'loading') this._metrics = { ...this._metrics, state: this._metrics.data ? 'ready' : 'idle' };
      this._render();
    }
  }

  /// Loads the last 30 days' metrics. The figures shown stay while a refresh loads them again; a
  /// failure is said in the panel (with a retry) and in the live region, and never touches the
  /// alert list. `announce`: say in the live region that they are there (when asked for).
  async _loadMetrics(announce = false) {
    const sequence = ++this._metricsSequence;
    this._metrics = { ...this._metrics, state: 'loading' };
    this._render();
    let next = { state: 'failed', data: null };
    try {
      const response = await this._request('/api/alerts/metrics');
      const body = await response.json().catch(() => null);
      if (response.ok && body?.success === true && body.totals && Array.isArray(body.days)) next = { state: 'ready', data: body };
    } catch {
      // Said in words in the panel.
    }
    if (sequence !== this._metricsSequence) return; // A newer load took over, or the panel closed.
    this._metrics = next;
    if (next.state === 'failed') this._announce(this._words.metricsFailed);
    else if (announce) this._announce(this._words.metricsLoaded);
    this._render();
  }

  /// Takes an alert out of the list while its call is on its way, keeping a keyboard user's focus
  /// in the list if it was on the alert.
  _leave(id) {
    const item = this._list.querySelector(`[data-id="${CSS.escape(id)}"]`);
    const position = item ? [...this._list.children].indexOf(item) : -1;
    const hadFocus = Boolean(item && item.contains(this._root.activeElement));
    this._leaving.add(id);
    if (this._snoozeOpen === id) this._snoozeOpen = null;
    this._error = '';
    this._render();
    if (hadFocus) this._focusAfterRemoval(position);
  }

  /// Counts an alert gone for good out of the badges now; the next refresh brings the server's
  /// own numbers.
  _drop(alert) {
    this._data = {
      ...this._data,
      alerts: this._data.alerts.filter((a) => a.id !== alert.id),
      stats: this._without(this._data.stats, alert),
    };
    this._historyOpen.delete(alert.id);
    this._histories.delete(alert.id);
  }

  _actionButton(id, action) {
    return this._list.querySelector(`li[data-id="${CSS.escape(id)}"] [data-action="${action}"]`);
  }

  _without(stats, alert) {
    const next = { ...stats, total: Math.max(0, stats.total - 1) };
    next[alert.severity] = Math.max(0, (stats[alert.severity] || 0) - 1);
    if (alert.escalated) next.escalated = Math.max(0, (stats.escalated || 0) - 1);
    return next;
  }

  _schedule() {
    clearTimeout(this._timer);
    this._timer = null;
    const interval = this._interval;
    if (!interval || !this.isConnected || document.hidden || this._loading) return;
    const wait = Math.max(0, this._lastAttempt + interval - Date.now());
    this._timer = setTimeout(() => this.refresh(), wait);
  }

  _visibilityChanged() {
    if (document.hidden) {
      clearTimeout(this._timer);
      this._timer = null;
    } else if (this._interval && Date.now() - this._lastAttempt >= this._interval) {
      this.refresh(); // Caught up at once after a stay in the background.
    } else {
      this._schedule();
    }
  }

  _build() {
    const style = element('style');
    style.textContent = STYLE;
    this._title = element('h2', { id: 'title' });
    this._badges = element('ul', { class: 'badges' });
    this._refreshButton = element('button', { type: 'button', class: 'refresh' });
    this._refreshButton.addEventListener('click', () => this.refresh());
    this._status = element('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
    this._notice = element('p', { class: 'notice', role: 'alert' });
    this._list = element('ul', { class: 'alerts' });
    this._list.addEventListener('click', (event) => {
      const button = event.target.closest('button[data-action]');
      if (button) this._onAction(button.closest('li').dataset.id, button.dataset.action, button.dataset.choice);
    });
    this._list.addEventListener('keydown', (event) => this._keydown(event));
    this._empty = element('p', { class: 'empty' });
    this._more = element('p', { class: 'more' });
    // The metrics view: its button comes after the list (the list is the widget's first view, and
    // the first thing a keyboard reaches after "Actualiser"), right before the panel it opens.
    this._metricsButton = element('button', { type: 'button', class: 'metrics-toggle', 'aria-controls': 'metrics', 'aria-expanded': 'false' });
    this._metricsButton.addEventListener('click', () => this.toggleMetrics());
    this._metricsPanel = element('section', { class: 'metrics', id: 'metrics', 'aria-labelledby': 'metrics-title', tabindex: '-1', hidden: true });
    this._metricsPanel.addEventListener('click', (event) => {
      if (event.target.closest('button[data-action="metrics-retry"]')) this._loadMetrics(true);
    });
    // Escape from inside the panel closes it and gives the focus back to its button.
    this._metricsPanel.addEventListener('keydown', (event) => {
      if (event.key !== 'Escape' || !this._metricsOpen) return;
      event.preventDefault();
      event.stopPropagation();
      this.toggleMetrics();
      this._metricsButton.focus();
    });
    this._panel = element(
      'section',
      { class: 'panel', part: 'panel', 'aria-labelledby': 'title' },
      element('header', {}, this._title, this._badges, this._refreshButton),
      this._notice,
      this._status,
      this._empty,
      this._list,
      this._more,
      element('div', { class: 'metrics-toggle-bar' }, this._metricsButton),
      this._metricsPanel,
    );
    this._root.append(style, this._panel);
  }

  /// What a button of an alert does (its `data-action`).
  _onAction(id, action, choice) {
    if (action === 'resolve') this.resolve(id);
    else if (action === 'acknowledge') this.acknowledge(id);
    else if (action === 'snooze-choice') this.snooze(id, choice);
    else if (action === 'history') this.toggleHistory(id);
    else if (action === 'snooze') {
      this._snoozeOpen = this._snoozeOpen === id ? null : id;
      this._render();
    }
  }

  /// Escape closes the snooze choices (or else the history) of the alert that has the focus, and
  /// gives the focus back to the button that opened them.
  _keydown(event) {
    if (event.key !== 'Escape') return;
    const id = event.target.closest?.('li.alert')?.dataset.id;
    if (!id) return;
    let toggle;
    if (this._snoozeOpen === id) {
      this._snoozeOpen = null;
      toggle = 'snooze';
    } else if (this._historyOpen.delete(id)) {
      toggle = 'history';
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
    this._render();
    this._actionButton(id, toggle)?.focus();
  }

  _announce(text) {
    this._announcement = text;
  }

  _render() {
    const words = this._words;
    const data = this._data;
    this._title.textContent = words.title;
    this._refreshButton.textContent = words.refresh;
    this._refreshButton.disabled = this._loading;
    this._panel.setAttribute('aria-busy', String(this._loading));
    this._badges.setAttribute('aria-label', words.badgesLabel);
    this._list.setAttribute('aria-label', words.listLabel);

    const shown = data ? data.alerts.filter((a) => !this._leaving.has(a.id)) : [];
    const stats = data
      ? [...this._leaving].reduce((s, id) => {
          const alert = data.alerts.find((a) => a.id === id);
          return alert ? this._without(s, alert) : s;
        }, data.stats)
      : null;
    this._badges.replaceChildren(
      ...(stats ? SEVERITIES.map((s) => element('li', { class: `badge ${s}`, text: `${words[s]}: ${stats[s] ?? 0}` })) : []),
    );
    // The snoozed alerts are counted apart, muted, and only when there are some.
    if (stats?.snoozed > 0) this._badges.append(element('li', { class: 'badge snoozed', text: words.snoozedCount(stats.snoozed) }));

    this._notice.textContent = this._error
      ? this._error + (this._error !== words.notConfigured && this._lastUpdated && data
          ? ` ${words.lastUpdated(this._lastUpdated.toLocaleTimeString(words.locale, { hour: '2-digit', minute: '2-digit' }))}`
          : '')
      : '';

    let status = '';
    if (this._loading && !data) status = words.loading;
    else if (this._announcement) status = this._announcement;
    else if (stats) status = words.count(stats.total);
    this._announcement = '';
    this._status.textContent = status;

    this._empty.hidden = !data || shown.length > 0;
    this._empty.textContent = words.empty;

    // The list is rebuilt: remember which alert's button had the focus, to give it back.
    const focused = this._root.activeElement;
    const focusedId = focused?.closest?.('li.alert')?.dataset.id;
    const now = Date.now();
    this._list.replaceChildren(...shown.map((alert) => this._item(alert, words, now)));
    if (focusedId && focused?.dataset.action) {
      const choice = focused.dataset.choice ? `[data-choice="${focused.dataset.choice}"]` : '';
      this._list.querySelector(`li[data-id="${CSS.escape(focusedId)}"] [data-action="${focused.dataset.action}"]${choice}`)?.focus();
    }
    const hiddenCount = stats ? stats.total - shown.length : 0;
    this._more.hidden = !(data && data.nextCursor && hiddenCount > 0);
    this._more.textContent = hiddenCount > 0 ? words.more(hiddenCount) : '';
    this._renderMetrics(words);
  }

  /// The metrics panel, rebuilt only when what it shows changes (new figures, a failure, another
  /// language): a refresh on its way leaves the figures in place, marked busy. The open tables
  /// and the focus inside the panel are kept across a rebuild.
  _renderMetrics(words) {
    const open = this._metricsOpen;
    const panel = this._metricsPanel;
    this._metricsButton.textContent = words.metrics;
    this._metricsButton.setAttribute('aria-expanded', String(open));
    panel.hidden = !open;
    const { state, data } = this._metrics;
    panel.setAttribute('aria-busy', String(state === 'loading'));
    if (!open) return;
    const content = data && (state === 'ready' || state === 'loading') ? data : state;
    if (this._metricsShown?.content === content && this._metricsShown.lang === this._lang) return;
    this._metricsShown = { content, lang: this._lang };

    const focused = this._root.activeElement;
    const hadFocus = Boolean(focused && panel.contains(focused));
    const focusKey = hadFocus ? focused.dataset?.focus : null;
    const openDetails = new Set([...panel.querySelectorAll('details[open]')].map((d) => d.closest('[data-chart]')?.dataset.chart));

    const heading = element('h3', { id: 'metrics-title', text: words.metricsLabel });
    if (state === 'failed') {
      panel.replaceChildren(heading, element(
        'p',
        { class: 'failed' },
        words.metricsFailed,
        element('button', { type: 'button', 'data-action': 'metrics-retry', 'data-focus': 'retry', text: words.retry }),
      ));
    } else if (!data) {
      panel.replaceChildren(heading, element('p', { class: 'note', text: words.metricsLoading }));
    } else {
      panel.replaceChildren(heading, ...this._metricsContent(data, words));
      for (const details of panel.querySelectorAll('details')) {
        if (openDetails.has(details.closest('[data-chart]')?.dataset.chart)) details.open = true;
      }
    }
    if (hadFocus && !panel.contains(this._root.activeElement)) {
      (focusKey && panel.querySelector(`[data-focus="${focusKey}"]`) || panel).focus();
    }
  }

  /// What the metrics panel shows: the period, the key figures, the charts, the rules.
  _metricsContent(data, words) {
    const totals = data.totals;
    const days = data.days;
    const from = dayLabel(data.from, words);
    const to = dayLabel(data.to, words);
    const share = totals.resolvedWithin24hShare;
    const figure = (name, term, value, detail) => element(
      'div',
      { 'data-figure': name },
      element('dt', { text: term }),
      element('dd', {}, String(value), ...(detail ? [element('small', { text: detail })] : [])),
    );
    const figures = words.figures;
    const keyFigures = element(
      'dl',
      { class: 'figures' },
      figure('raised', figures.raised, totals.raised),
      figure('resolved', figures.resolved, resolvedCount(totals), figures.resolvedSplit(totals.resolvedManually, totals.resolvedAutomatically)),
      figure('open', figures.open, totals.openAtEnd),
      figure('within24h', figures.within24h, share === null || share === undefined
        ? words.none
        : new Intl.NumberFormat(words.locale, { style: 'percent', maximumFractionDigits: 0 }).format(share)),
      figure('median-resolve', figures.medianResolve, medianResolve(totals, words)),
      figure('widget-users', figures.widgetUsers, data.widgetUsers ?? 0),
    );

    const raised = words.chartRaised;
    const opened = words.chartOpen;
    const users = words.chartUsers;
    const charts = [
      chartFigure('raised', raised.title, days, [
        { className: 'raised', name: raised.raised, value: (day) => day.raised },
        { className: 'resolved', name: raised.resolved, value: resolvedCount },
      ], raised.label(from, to, totals.raised, resolvedCount(totals)), words),
      chartFigure('open', opened.title, days, [{ className: 'open', name: opened.value, value: (day) => day.openAtEnd }],
        opened.label(from, to, days.length ? days[days.length - 1].openAtEnd : 0, Math.max(0, ...days.map((day) => day.openAtEnd))), words),
      chartFigure('users', users.title, days, [{ className: 'users', name: users.value, value: (day) => day.widgetUsers ?? 0 }],
        users.label(from, to, data.widgetUsers ?? 0, Math.max(0, ...days.map((day) => day.widgetUsers ?? 0))), words),
    ];

    const columns = words.ruleColumns;
    const rules = element(
      'table',
      { class: 'rules' },
      element('caption', { text: words.byRule }),
      element('thead', {}, element(
        'tr',
        {},
        element('th', { scope: 'col', text: words.rule }),
        ...[columns.raised, columns.resolved, columns.open, columns.median].map((text) => element('th', { scope: 'col', text })),
      )),
      element('tbody', {}, ...(data.byRule || []).map((rule) => element(
        'tr',
        { 'data-rule': rule.type },
        element('th', { scope: 'row', text: Object.hasOwn(words.rules, rule.type) ? words.rules[rule.type] : rule.type }),
        element('td', { text: String(rule.raised) }),
        element('td', { text: String(resolvedCount(rule)) }),
        element('td', { text: String(rule.openAtEnd) }),
        element('td', { text: medianResolve(rule, words) }),
      ))),
    );
    return [element('p', { class: 'period', text: words.metricsPeriod(from, to) }), keyFigures, ...charts, rules];
  }

  /// One alert: who, what, since when, its marks, its actions, and its history when open.
  _item(alert, words, now) {
    const lead = alert.leadName || alert.leadId;
    const acknowledging = this._acknowledging.has(alert.id);
    const meta = element(
      'div',
      { class: 'meta' },
      element('time', { datetime: alert.createdAt, text: age(alert.createdAt, words, now) }),
    );
    if (alert.suggestedAction?.label) {
      meta.append(element('span', { class: 'action', text: `→ ${alert.suggestedAction.label}` }));
    }
    if (alert.escalated) {
      meta.append(element('span', { class: 'mark', title: words.escalatedLabel, text: `⚠ ${words.escalated}` }));
    }
    if (alert.acknowledgedAt || acknowledging) {
      const when = alert.acknowledgedAt ? eventTime(alert.acknowledgedAt, words) : '';
      meta.append(element('span', {
        class: 'mark acknowledged', title: when ? words.acknowledgedTitle(when) : null, text: words.acknowledgedMark,
      }));
    }
    const id = alert.id;
    const snoozeOpen = this._snoozeOpen === id;
    const historyOpen = this._historyOpen.has(id);
    const actions = element(
      'div',
      { class: 'actions' },
      element('button', { type: 'button', class: 'resolve', 'data-action': 'resolve', 'aria-label': words.resolveLabel(lead), text: words.resolve }),
    );
    // Acknowledged (or on its way): no button, the mark says it.
    if (!alert.acknowledgedAt && !acknowledging) {
      actions.append(element('button', {
        type: 'button', class: 'acknowledge', 'data-action': 'acknowledge', 'aria-label': words.acknowledgeLabel(lead), text: words.acknowledge,
      }));
    }
    actions.append(
      element('button', {
        type: 'button', class: 'history-toggle', 'data-action': 'history', 'aria-expanded': String(historyOpen),
        'aria-controls': `history-${id}`, 'aria-label': words.historyLabel(lead), text: words.history,
      }),
      element('button', {
        type: 'button', class: 'snooze', 'data-action': 'snooze', 'aria-expanded': String(snoozeOpen),
        'aria-controls': `snooze-${id}`, 'aria-label': words.snoozeLabel(lead), text: words.snooze,
      }),
      element(
        'div',
        { class: 'choices', id: `snooze-${id}`, role: 'group', 'aria-label': words.snoozeLabel(lead), hidden: !snoozeOpen },
        ...SNOOZES.map((choice) =>
          element('button', { type: 'button', 'data-action': 'snooze-choice', 'data-choice': choice, text: words.snoozeChoices[choice] })),
      ),
    );
    return element(
      'li',
      { class: `alert ${alert.severity}${alert.escalated ? ' escalated' : ''}`, 'data-id': id },
      leadElement(alert, lead, words),
      element('p', { class: 'message', text: alert.message }),
      meta,
      actions,
      this._historyPanel(id, lead, historyOpen, words),
    );
  }

  /// The history of an alert, oldest first: when, what happened and who, the comment if any.
  _historyPanel(id, lead, open, words) {
    const panel = element('div', { class: 'history', id: `history-${id}`, role: 'region', 'aria-label': words.historyLabel(lead), hidden: !open });
    if (!open) return panel;
    const history = this._histories.get(id);
    if (history?.state === 'failed') {
      panel.append(element('p', { class: 'failed', text: words.historyFailed }));
    } else if (!history || (history.state === 'loading' && history.events.length === 0)) {
      panel.append(element('p', { text: words.historyLoading }));
    } else {
      panel.setAttribute('aria-busy', String(history.state === 'loading'));
      panel.append(element(
        'ol',
        {},
        ...history.events.map((event) => {
          const item = element(
            'li',
            {},
            element('time', { datetime: event.at, text: eventTime(event.at, words) }),
            ' — ',
            element('span', { class: 'what', text: eventText(event, words) }),
          );
          if (event.comment) item.append(' ', element('q', { text: event.comment }));
          return item;
        }),
      ));
    }
    return panel;
  }

  /// Keeps keyboard users in the list: focus goes to the next alert's button, or to "Actualiser".
  _focusAfterRemoval(position) {
    const buttons = this._list.querySelectorAll('button.resolve');
    (buttons[Math.min(position, buttons.length - 1)] || this._refreshButton).focus();
  }
}

if (!customElements.get('max-alerts')) customElements.define('max-alerts', MaxAlerts);

export { MaxAlerts, age };
