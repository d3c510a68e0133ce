// The demo dashboard's sign-in: `max-local serve` prints a URL carrying a token in its fragment
// (never sent to a server, nor kept in logs). The page hands it to the widget, keeps it for the tab
// and takes it out of the address bar. `?lang=en` and `?refresh=SECONDS` set the widget's
// attributes, for trying them out.

const widget = document.querySelector('max-alerts');
const fragment = new URLSearchParams(location.hash.slice(1));
const query = new URLSearchParams(location.search);

if (fragment.get('token')) {
  sessionStorage.setItem('max-alerts-token', fragment.get('token'));
  history.replaceState(null, '', location.pathname + location.search);
}
if (query.get('lang')) {
  widget.setAttribute('lang', query.get('lang'));
  document.documentElement.lang = query.get('lang');
}
if (query.get('refresh')) widget.setAttribute('refresh-interval', query.get('refresh'));

const token = sessionStorage.getItem('max-alerts-token');
if (token) widget.setAttribute('token', token);
