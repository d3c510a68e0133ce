// <max-alerts>: the "Alertes M.A.X." widget, a custom element any dashboard can embed.
//
//   <script type="module" src="https://…/max-alerts.js"></script>
//   <max-alerts api-base="https://max-api.example.com" token="…" refresh-interval="60" lang="fr"></max-alerts>
//
// Attributes: api-base (the gateway's base URL; empty for the same origin), token (a bearer token:
// a user's JWT; better kept out of the markup, see below), refresh-interval (seconds, default 60; 0 turns auto-refresh off), lang (fr, the
// default, or en). No framework and no build step; its styles live in a shadow root, so nothing
// leaks in or out. It lists the tenant's active alerts, most urgent first, resolves one with one
// click (optimistically, putting it back with an error if the call fails), refreshes itself while
// the page is visible, and catches up as soon as it shows again.
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
    resolve: 'Résoudre',
    resolveLabel: (lead) => `Résoudre l'alerte de ${lead}`,
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
  },
  en: {
    title: 'M.A.X. Alerts',
    high: 'High',
    medium: 'Medium',
    low: 'Low',
    refresh: 'Refresh',
    resolve: 'Resolve',
    resolveLabel: (lead) => `Resolve the alert about ${lead}`,
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
  },
};

const STYLE = `
:host {
  display: block;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--max-alerts-text, #1d2433);
  --high: var(--max-alerts-high, #c0392b);
  --medium: var(--max-alerts-medium, #b9770e);
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
.badges { display: flex; gap: 6px; margin: 0; padding: 0; list-style: none; }
.badge { border-radius: 999px; padding: 2px 10px; font-weight: 600; font-size: 12px; color: #fff; }
.badge.high { background: var(--high); }
.badge.medium { background: var(--medium); }
.badge.low { background: var(--low); }
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
  display: grid; grid-template-columns: 1fr auto; gap: 4px 12px; align-items: center;
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
.resolve { grid-row: 1 / span 3; grid-column: 2; }
.more { margin: 8px 0 0; color: #5a6478; font-size: 12px; }
[aria-busy="true"] .status::before { content: "⟳ "; }
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
    this._resolving = new Set();
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

  get _words() {
    return STRINGS[(this.getAttribute('lang') || 'fr').slice(0, 2).toLowerCase()] || STRINGS.fr;
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

  async _request(path, options = {}) {
    const token = await this._currentToken();
    return fetch(this._url(path), {
      ...options,
      headers: { Accept: 'application/json', Authorization: `Bearer ${token}` },
    });
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
    if (!alert || this._resolving.has(id)) return;
    const lead = alert.leadName || alert.leadId;
    const index = this._list.querySelector(`[data-id="${CSS.escape(id)}"]`);
    const position = index ? [...this._list.children].indexOf(index) : -1;
    const hadFocus = this._root.activeElement?.classList.contains('resolve') ?? false;
    this._resolving.add(id);
    this._error = '';
    this._render();
    if (hadFocus) this._focusAfterRemoval(position);
    let ok = false;
    try {
      const response = await this._request(`/api/alerts/${encodeURIComponent(id)}/resolve`, { method: 'POST' });
      ok = response.ok;
    } catch {
      ok = false;
    }
    this._resolving.delete(id);
    if (ok) {
      // Counted out of the badges now; the next refresh brings the server's own numbers.
      this._data = {
        ...this._data,
        alerts: this._data.alerts.filter((a) => a.id !== id),
        stats: this._without(this._data.stats, alert),
      };
      this._announce(this._words.resolved(lead));
    } else {
      this._error = this._words.resolveFailed(lead);
    }
    this._render();
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
      const button = event.target.closest('button.resolve');
      if (button) this.resolve(button.closest('li').dataset.id);
    });
    this._empty = element('p', { class: 'empty' });
    this._more = element('p', { class: 'more' });
    this._panel = element(
      'section',
      { class: 'panel', part: 'panel', 'aria-labelledby': 'title' },
      element('header', {}, this._title, this._badges, this._refreshButton),
      this._notice,
      this._status,
      this._empty,
      this._list,
      this._more,
    );
    this._root.append(style, this._panel);
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

    const shown = data ? data.alerts.filter((a) => !this._resolving.has(a.id)) : [];
    const stats = data
      ? [...this._resolving].reduce((s, id) => {
          const alert = data.alerts.find((a) => a.id === id);
          return alert ? this._without(s, alert) : s;
        }, data.stats)
      : null;
    this._badges.replaceChildren(
      ...(stats ? SEVERITIES.map((s) => element('li', { class: `badge ${s}`, text: `${words[s]}: ${stats[s] ?? 0}` })) : []),
    );

    this._notice.textContent = this._error
      ? this._error + (this._error !== words.notConfigured && this._lastUpdated && data
          ? ` ${words.lastUpdated(this._lastUpdated.toLocaleTimeString(words === STRINGS.en ? 'en-GB' : 'fr-FR', { hour: '2-digit', minute: '2-digit' }))}`
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
    const focusedId = this._root.activeElement?.closest?.('li.alert')?.dataset.id;
    const now = Date.now();
    this._list.replaceChildren(
      ...shown.map((alert) => {
        const lead = alert.leadName || alert.leadId;
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
        return element(
          'li',
          { class: `alert ${alert.severity}${alert.escalated ? ' escalated' : ''}`, 'data-id': alert.id },
          leadElement(alert, lead, words),
          element('p', { class: 'message', text: alert.message }),
          meta,
          element('button', { type: 'button', class: 'resolve', 'aria-label': words.resolveLabel(lead), text: words.resolve }),
        );
      }),
    );
    if (focusedId) {
      this._list.querySelector(`li[data-id="${CSS.escape(focusedId)}"] button.resolve`)?.focus();
    }
    const hiddenCount = stats ? stats.total - shown.length : 0;
    this._more.hidden = !(data && data.nextCursor && hiddenCount > 0);
    this._more.textContent = hiddenCount > 0 ? words.more(hiddenCount) : '';
  }

  /// Keeps keyboard users in the list: focus goes to the next alert's button, or to "Actualiser".
  _focusAfterRemoval(position) {
    const buttons = this._list.querySelectorAll('button.resolve');
    (buttons[Math.min(position, buttons.length - 1)] || this._refreshButton).focus();
  }
}

if (!customElements.get('max-alerts')) customElements.define('max-alerts', MaxAlerts);

export { MaxAlerts, age };
