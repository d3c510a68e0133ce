//! `max-local serve` facing the internet behind Nginx, as the checklist's VPS option runs it: every
//! wait on a client is bounded (a request's head, its body, an idle keep-alive connection), open
//! connections are capped, an HTTP/1.1 request without `Host` is refused, SIGTERM lets a request
//! in flight finish, log lines can be JSON, a server error reaches Sentry without secrets, and the
//! shipped Nginx site (`infra/vps/max-alerts.conf`) serves the API and the dashboard over HTTPS.
//!
//! Raw tests speak HTTP/1.1 over `std::net::TcpStream`, with small timeouts given as `serve`
//! options; every wait has a bound.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use shared::testing::TestDb;

use support::BIN;
const JWT_SECRET: &str = "vps-tests-secret-0123456789abcdefghijkl";

/// A running `max-local serve` on its own database; killed (if still running) when dropped.
struct Serve {
    child: Child,
    port: u16,
    /// The demo key, unless started with `--no-demo`.
    key: Option<String>,
    /// Every line written to stderr so far (the logs).
    stderr: Arc<Mutex<Vec<String>>>,
    runtime: tokio::runtime::Runtime,
    test: TestDb,
}

impl Serve {
    fn start(args: &[&str]) -> Self {
        Self::start_with(args, &[], None)
    }

    /// With more environment, and `DATABASE_URL` as `database_url` makes it from the test's.
    fn start_with(
        args: &[&str],
        env: &[(&str, &str)],
        database_url: Option<&dyn Fn(&str) -> String>,
    ) -> Self {
        let (runtime, test) = support::database();
        let url = database_url.map_or_else(|| test.url.clone(), |make| make(&test.url));
        let launched = support::launch(|command| {
            command
                .args(["--evaluate-every", "0"])
                .args(args)
                .env("DATABASE_URL", url)
                .env("JWT_SECRET", JWT_SECRET)
                .env("RUST_LOG", "info")
                .envs(env.iter().copied());
        });
        Self {
            child: launched.child,
            port: launched.port,
            key: launched.key,
            stderr: launched.stderr,
            runtime,
            test,
        }
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }

    fn health(&self) -> u16 {
        let mut stream = self.connect();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        read_response(&mut stream).expect("an answer").0
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    fn sigterm(&self) {
        // The shell's own kill, which every image has (unsafe code, for libc's, is forbidden).
        let status = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", self.child.id())])
            .status()
            .expect("sh runs");
        assert!(status.success());
    }

    /// The exit status, waiting at most `limit`.
    fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Stops the server (SIGTERM) and returns what it logged.
    fn stop(&mut self) -> Vec<String> {
        self.sigterm();
        let status = self.wait(Duration::from_secs(15));
        assert!(
            status.is_some_and(|s| s.success()),
            "serve exits 0: {status:?}"
        );
        // The stderr reader sees the pipe close shortly after the exit.
        std::thread::sleep(Duration::from_millis(200));
        self.stderr.lock().unwrap().clone()
    }

    fn sql(&self, query: &str) -> Vec<tokio_postgres::Row> {
        support::sql(&self.runtime, &self.test, query)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 response: status, head (lower-cased), body. `None` when the connection closed or
/// timed out before a whole response.
fn read_response(stream: &mut TcpStream) -> Option<(u16, String, Vec<u8>)> {
    let (head, body) = read_message(stream)?;
    let head = head.to_ascii_lowercase();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, head, body))
}

/// One HTTP/1.1 message, request or response: its head as sent, and its body (`Content-Length`
/// bytes).
fn read_message(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = find(&buffer, b"\r\n\r\n") {
            break end;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    Some((head, body))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// How long until the server closes `stream` (reads return end of file or a reset), if it does
/// within `limit`; what it sent meanwhile is discarded.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut chunk = [0u8; 1024];
    while started.elapsed() < limit {
        match stream.read(&mut chunk) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

/// Whether `stream` receives nothing for `wait` (the server has not answered it).
fn silent_for(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut byte = [0u8; 1];
    let silent = matches!(
        stream.read(&mut byte),
        Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
    );
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    silent
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)))
}

#[test]
fn clients_that_trickle_their_request_head_or_send_nothing_are_cut_off_at_the_header_timeout() {
    let mut serve = Serve::start(&["--header-timeout-ms", "1000"]);
    let started = Instant::now();
    // Twenty connections send a request head one byte every 200 ms; ten send nothing at all.
    let mut clients: Vec<(TcpStream, bool, Option<Duration>)> = (0..30)
        .map(|n| {
            let mut stream = serve.connect();
            let trickles = n < 20;
            if trickles {
                stream.write_all(b"GET /health HTTP/1.1\r\n").unwrap();
            }
            stream
                .set_read_timeout(Some(Duration::from_millis(5)))
                .unwrap();
            (stream, trickles, None)
        })
        .collect();
    while started.elapsed() < Duration::from_secs(5) && clients.iter().any(|c| c.2.is_none()) {
        for (stream, trickles, closed) in clients.iter_mut().filter(|c| c.2.is_none()) {
            if *trickles {
                let _ = stream.write_all(b"X");
            }
            let mut chunk = [0u8; 256];
            match stream.read(&mut chunk) {
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Ok(n) if n > 0 => {}
                _ => *closed = Some(started.elapsed()),
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for (_, trickles, closed) in &clients {
        let closed = closed.expect("every connection is closed within 5 s");
        assert!(
            closed >= Duration::from_millis(900) && closed < Duration::from_secs(3),
            "closed after {closed:?} (trickling: {trickles}), the header timeout being 1 s"
        );
    }
    assert!(serve.is_running());
    assert_eq!(serve.health(), 200);
}

#[test]
fn a_keep_alive_connection_left_idle_is_closed_after_the_header_timeout() {
    let serve = Serve::start(&["--header-timeout-ms", "1000"]);
    let mut stream = serve.connect();
    let mut answered = Instant::now();
    for pause in [Duration::from_millis(500), Duration::ZERO] {
        // Two requests on one connection, 500 ms apart: it is kept alive while used.
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let (status, _, _) = read_response(&mut stream).expect("an answer on the same connection");
        assert_eq!(status, 200);
        answered = Instant::now();
        std::thread::sleep(pause);
    }
    closed_within(&mut stream, Duration::from_secs(5)).expect("the idle connection is closed");
    let idle = answered.elapsed();
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_millis(2500),
        "closed after {idle:?} idle, the header timeout being 1 s"
    );
}

#[test]
fn connections_beyond_the_cap_wait_until_one_closes() {
    let mut serve = Serve::start(&["--max-connections", "3", "--header-timeout-ms", "20000"]);
    let mut idle: Vec<TcpStream> = (0..3).map(|_| serve.connect()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let request = b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut fourth = serve.connect();
    let mut fifth = serve.connect();
    fourth.write_all(request).unwrap();
    fifth.write_all(request).unwrap();
    assert!(
        silent_for(&mut fourth, Duration::from_millis(800)),
        "a fourth connection is not served while three are open"
    );
    assert!(silent_for(&mut fifth, Duration::from_millis(200)));

    // One closes: the fourth is served (and stays open), the fifth still waits.
    idle.pop().unwrap().shutdown(Shutdown::Both).unwrap();
    let (status, _, _) = read_response(&mut fourth).expect("the fourth is served");
    assert_eq!(status, 200);
    assert!(
        silent_for(&mut fifth, Duration::from_millis(500)),
        "the fifth waits: three connections are open again"
    );
    fourth.shutdown(Shutdown::Both).unwrap();
    let (status, _, _) = read_response(&mut fifth).expect("the fifth is served");
    assert_eq!(status, 200);
    assert!(serve.is_running());
    drop(idle);
    drop(fifth);
    assert_eq!(serve.health(), 200);
}

#[test]
fn an_http_1_1_request_without_host_is_a_400_in_json_and_http_1_0_needs_none() {
    let serve = Serve::start(&[]);
    for request in [
        &b"GET /health HTTP/1.1\r\n\r\n"[..],
        b"GET /health HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
        b"GET /api/alerts/active HTTP/1.1\r\nAuthorization: Bearer mxk_macrea_x\r\n\r\n",
    ] {
        let mut stream = serve.connect();
        stream.write_all(request).unwrap();
        let (status, head, body) = read_response(&mut stream).expect("an answer");
        assert_eq!(status, 400, "{}", String::from_utf8_lossy(request));
        assert!(head.contains("content-type: application/json"));
        let body = json(&body);
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], "missing_host");
        assert!(body["error"]["message"].as_str().unwrap().contains("Host"));
        assert!(
            closed_within(&mut stream, Duration::from_secs(2)).is_some(),
            "the connection is closed after the 400"
        );
    }
    let mut stream = serve.connect();
    stream.write_all(b"GET /health HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut stream).expect("an answer").0, 200);
}

#[test]
fn a_body_that_does_not_arrive_in_time_is_a_408_and_the_connection_closes() {
    let serve = Serve::start(&["--body-timeout-ms", "1000"]);
    let key = serve.key.clone().unwrap();
    let mut stream = serve.connect();
    let started = Instant::now();
    write!(
        stream,
        "POST /api/activities/log HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"leadId\""
    )
    .unwrap();
    let (status, _, body) = read_response(&mut stream).expect("an answer");
    let elapsed = started.elapsed();
    assert_eq!(status, 408);
    assert_eq!(json(&body)["error"]["code"], "request_timeout");
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(3),
        "answered after {elapsed:?}"
    );
    assert!(closed_within(&mut stream, Duration::from_secs(2)).is_some());
}

#[test]
fn sigterm_lets_a_request_in_flight_finish_then_exits_0() {
    let mut serve = Serve::start(&["--body-timeout-ms", "10000"]);
    let key = serve.key.clone().unwrap();
    let body = br#"{"leadId": "sigterm_lead", "channel": "call", "direction": "out", "status": "completed"}"#;
    let (first, rest) = body.split_at(20);
    let mut stream = serve.connect();
    write!(
        stream,
        "POST /api/activities/log HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(first).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    serve.sigterm();
    // Shutting down: new connections are refused...
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(("127.0.0.1", serve.port)).is_ok() {
        assert!(Instant::now() < deadline, "the listener is still open");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(serve.is_running(), "a request is in flight");
    // ...and the request in flight still gets its answer.
    stream.write_all(rest).unwrap();
    let (status, _, answer) =
        read_response(&mut stream).expect("the request in flight is answered");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(json(&answer)["activity"]["leadId"], "sigterm_lead");

    let exit = serve.wait(Duration::from_secs(10));
    assert!(exit.is_some_and(|s| s.success()), "exit status {exit:?}");
    let stored = serve.sql("SELECT count(*) FROM lead_activities WHERE lead_id = 'sigterm_lead'");
    assert_eq!(stored[0].get::<_, i64>(0), 1);
}

#[test]
fn log_lines_are_json_when_asked_one_per_request_without_credentials_or_query_values() {
    let mut serve = Serve::start_with(&[], &[("AWS_LAMBDA_LOG_FORMAT", "JSON")], None);
    let key = serve.key.clone().unwrap();
    for request in [
        "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n".to_owned(),
        "GET /dashboard HTTP/1.1\r\nHost: localhost\r\n\r\n".to_owned(),
        "GET /nowhere?token=query-secret-value HTTP/1.1\r\nHost: localhost\r\n\r\n".to_owned(),
        format!(
            "GET /api/alerts/active?leadId=lead-private-name HTTP/1.1\r\nHost: localhost\r\n\
             Authorization: Bearer {key}\r\n\r\n"
        ),
        "GET /health HTTP/1.1\r\n\r\n".to_owned(),
    ] {
        let mut stream = serve.connect();
        stream.write_all(request.as_bytes()).unwrap();
        read_response(&mut stream).expect("an answer");
    }
    let lines = serve.stop();
    let logged: Vec<Value> = lines
        .iter()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON line: {line}"))
        })
        .collect();
    let requests: Vec<(String, u64)> = logged
        .iter()
        .filter(|line| line["fields"]["message"] == "request")
        .map(|line| {
            assert!(line["timestamp"].is_string() && line["level"] == "INFO");
            assert!(line["fields"]["elapsed_ms"].is_number());
            (
                line["fields"]["route"].as_str().unwrap().to_owned(),
                line["fields"]["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        requests,
        [
            ("GET /health".to_owned(), 200),
            ("GET /dashboard".to_owned(), 200),
            ("GET (no route)".to_owned(), 404),
            ("GET /api/alerts/active".to_owned(), 200),
            ("GET (no route)".to_owned(), 400),
        ]
    );
    let all = lines.join("\n");
    for secret in [
        key.as_str(),
        "query-secret-value",
        "lead-private-name",
        "Bearer",
    ] {
        assert!(!all.contains(secret), "{secret} was logged");
    }
}

/// A stand-in for Sentry's ingestion endpoint: answers every request 200 and passes on each
/// (path, head, body).
fn fake_sentry() -> (u16, mpsc::Receiver<(String, String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let tx = tx.clone();
            std::thread::spawn(move || {
                stream
                    .set_read_timeout(Some(Duration::from_secs(30)))
                    .unwrap();
                while let Some((head, body)) = read_message(&mut stream) {
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
                    if tx.send((path, head, body)).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, rx)
}

#[test]
fn a_server_error_is_reported_to_sentry_without_secrets_or_personal_data() {
    const PASSWORD: &str = "db-password-never-reported";
    let (sentry_port, reports) = fake_sentry();
    let dsn = format!("http://0123456789abcdef0123456789abcdef@127.0.0.1:{sentry_port}/42");
    let with_password = |url: &str| {
        let mut url = url::Url::parse(url).unwrap();
        url.set_password(Some(PASSWORD)).unwrap();
        url.to_string()
    };
    let serve = Serve::start_with(&[], &[("SENTRY_DSN", &dsn)], Some(&with_password));
    let key = serve.key.clone().unwrap();

    // The alerts table disappears under the running server: listing alerts is a 500.
    serve.sql("ALTER TABLE max_alerts RENAME TO max_alerts_elsewhere");
    let mut stream = serve.connect();
    write!(
        stream,
        "GET /api/alerts/active?leadId=lead-private-name HTTP/1.1\r\nHost: localhost\r\n\
         Authorization: Bearer {key}\r\nX-Forwarded-For: 203.0.113.77\r\n\r\n"
    )
    .unwrap();
    let (status, _, body) = read_response(&mut stream).expect("an answer");
    assert_eq!(status, 500, "{}", String::from_utf8_lossy(&body));

    let (path, head, envelope) = reports
        .recv_timeout(Duration::from_secs(15))
        .expect("a report reaches the Sentry endpoint");
    assert_eq!(path, "/api/42/envelope/");
    let envelope = String::from_utf8(envelope).expect("an uncompressed envelope");
    let event: Value = envelope
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|item| item.get("event_id").is_some() && item.get("platform").is_some())
        .unwrap_or_else(|| panic!("an event in the envelope: {envelope}"));
    // An event's level is error unless it says otherwise.
    assert!(
        event.get("level").is_none_or(|level| level == "error"),
        "{event}"
    );
    let text = event.to_string();
    assert!(text.contains("database error"), "{text}");
    assert!(text.contains("42P01"), "the cause is reported: {text}");
    for absent in ["user", "request"] {
        assert!(
            event.get(absent).is_none(),
            "the event has a {absent}: {text}"
        );
    }
    let sent = format!("{head}\n{envelope}");
    for secret in [
        key.as_str(),
        "Bearer",
        PASSWORD,
        JWT_SECRET,
        "lead-private-name",
        "203.0.113.77",
    ] {
        assert!(!sent.contains(secret), "{secret} reached Sentry: {sent}");
    }
}

/// A port nothing listens on (yet).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A directory of its own under the system's temporary one, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = std::env::temp_dir().join(format!("{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `text` with `from` replaced by `to`, which must occur.
fn substitute(text: String, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the site no longer holds {from:?}");
    text.replace(from, to)
}

/// Nginx running the shipped site, with its ports, certificate and paths replaced; stopped when
/// dropped.
struct Nginx {
    child: Child,
    http: u16,
    https: u16,
    certificate: Vec<u8>,
    _dir: TempDir,
}

impl Nginx {
    fn start(upstream_port: u16) -> Self {
        let dir = TempDir::new("max-vps-nginx");
        let path = |name: &str| dir.0.join(name).display().to_string();
        let openssl = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
            .args([
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-addext",
                "basicConstraints=critical,CA:FALSE",
                "-addext",
                "extendedKeyUsage=serverAuth",
            ])
            .args(["-keyout", &path("key.pem"), "-out", &path("cert.pem")])
            .output()
            .expect("openssl runs");
        assert!(openssl.status.success(), "{openssl:?}");

        let (http, https) = (free_port(), free_port());
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let dashboard = format!("{}/", repo.join("dashboard").display());
        let site = std::fs::read_to_string(repo.join("infra/vps/max-alerts.conf")).unwrap();
        let site = substitute(site, "    listen [::]:80;\n", "");
        let site = substitute(site, "    listen [::]:443 ssl http2;\n", "");
        let site = substitute(site, "listen 80;", &format!("listen 127.0.0.1:{http};"));
        let site = substitute(
            site,
            "listen 443 ssl http2;",
            &format!("listen 127.0.0.1:{https} ssl http2;"),
        );
        let site = substitute(
            site,
            "server 127.0.0.1:3005;",
            &format!("server 127.0.0.1:{upstream_port};"),
        );
        let site = substitute(
            site,
            "/etc/letsencrypt/live/alerts.example.com/fullchain.pem",
            &path("cert.pem"),
        );
        let site = substitute(
            site,
            "/etc/letsencrypt/live/alerts.example.com/privkey.pem",
            &path("key.pem"),
        );
        let site = substitute(site, "/srv/max-alerts/current/dashboard/", &dashboard);
        let site = substitute(site, "/var/www/letsencrypt", &path("acme"));
        std::fs::write(dir.0.join("max-alerts.conf"), site).unwrap();
        let temp = |name: &str| format!("{name} {};", path(name));
        let conf = format!(
            "worker_processes 1;\npid {pid};\nevents {{ worker_connections 64; }}\n\
             http {{\n  types {{ text/html html; text/javascript js; image/svg+xml svg; }}\n  \
             default_type application/octet-stream;\n  access_log {access};\n  {} {} {} {} {}\n  \
             include {site};\n}}\n",
            temp("client_body_temp_path"),
            temp("proxy_temp_path"),
            temp("fastcgi_temp_path"),
            temp("uwsgi_temp_path"),
            temp("scgi_temp_path"),
            pid = path("nginx.pid"),
            access = path("access.log"),
            site = path("max-alerts.conf"),
        );
        std::fs::write(dir.0.join("nginx.conf"), conf).unwrap();

        let mut child = Command::new(nginx_binary())
            .args(["-p", &path(""), "-c", &path("nginx.conf"), "-e"])
            .arg(path("error.log"))
            .args(["-g", "daemon off; master_process off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", https)).is_err() {
            if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "nginx did not start: {}",
                    std::fs::read_to_string(path("error.log")).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let certificate = std::fs::read(path("cert.pem")).unwrap();
        Self {
            child,
            http,
            https,
            certificate,
            _dir: dir,
        }
    }

    /// A client that trusts the test's certificate and follows no redirect.
    fn agent(&self) -> ureq::Agent {
        let root = ureq::tls::Certificate::from_pem(&self.certificate).unwrap();
        ureq::Agent::config_builder()
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::new_with_certs(&[root]))
                    .build(),
            )
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .timeout_global(Some(Duration::from_secs(15)))
            .build()
            .into()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> String {
    std::env::var("NGINX").unwrap_or_else(|_| "/usr/sbin/nginx".to_owned())
}

#[test]
fn the_shipped_nginx_site_serves_the_api_and_the_dashboard_over_https() {
    let mut serve = Serve::start(&["--no-demo"]);
    assert!(serve.key.is_none(), "--no-demo prints no key");
    // The operator's commands print the secret they make alone on their last line.
    let secret_from = |args: &[&str]| {
        let created = Command::new(BIN)
            .args(args)
            .env("DATABASE_URL", &serve.test.url)
            .env("JWT_SECRET", JWT_SECRET)
            .output()
            .expect("max-local runs");
        assert!(created.status.success(), "{args:?}: {created:?}");
        String::from_utf8(created.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .trim()
            .to_owned()
    };
    let key = secret_from(&["create-key", "--tenant", "macrea", "--label", "vps test"]);
    let webhook_token = secret_from(&[
        "whatsapp",
        "create-token",
        "--tenant",
        "macrea",
        "--instance",
        "1101000001",
    ]);

    let nginx = Nginx::start(serve.port);
    let agent = nginx.agent();
    let https = format!("https://127.0.0.1:{}", nginx.https);

    let mut answer = agent
        .get(format!("{https}/api/alerts/active"))
        .header("Authorization", format!("Bearer {key}"))
        .call()
        .expect("an answer through Nginx");
    assert_eq!(answer.status(), 200);
    let body = json(answer.body_mut().read_to_string().unwrap().as_bytes());
    assert_eq!(body["success"], true);
    assert!(body["alerts"].is_array());

    let mut health = agent.get(format!("{https}/health")).call().unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        json(health.body_mut().read_to_string().unwrap().as_bytes())["status"],
        "ok"
    );

    // The webhooks' prefix reaches max-local too (a JSON 404: no such route there yet).
    let mut webhook = agent
        .post(format!("{https}/webhooks/green-api"))
        .send("{}")
        .unwrap();
    assert_eq!(webhook.status(), 404);
    assert_eq!(
        json(webhook.body_mut().read_to_string().unwrap().as_bytes())["error"]["code"],
        "not_found"
    );

    // Green-API's notification of a photo, with its thumbnail, passes Nginx's body limit.
    let mut photo: Value = serde_json::from_str(
        json(include_bytes!("../../events/greenapi-incoming-image.json"))["body"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    photo["messageData"]["fileMessageData"]["jpegThumbnail"] = Value::from("A".repeat(300 * 1024));
    let mut webhook = agent
        .post(format!("{https}/webhooks/greenapi"))
        .header("Authorization", format!("Bearer {webhook_token}"))
        .header("Content-Type", "application/json")
        .send(photo.to_string())
        .unwrap();
    assert_eq!(webhook.status(), 200);
    assert_eq!(
        json(webhook.body_mut().read_to_string().unwrap().as_bytes())["stored"],
        "unmatched"
    );

    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut page = agent.get(format!("{https}/dashboard")).call().unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(
        page.body_mut().read_to_string().unwrap(),
        std::fs::read_to_string(repo.join("dashboard/index.html")).unwrap()
    );
    let mut widget = agent
        .get(format!("{https}/dashboard/max-alerts.js"))
        .call()
        .unwrap();
    assert_eq!(widget.status(), 200);
    assert!(
        widget.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert_eq!(widget.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        widget.body_mut().read_to_string().unwrap(),
        std::fs::read_to_string(repo.join("dashboard/max-alerts.js")).unwrap()
    );

    let redirect = agent
        .get(format!(
            "http://127.0.0.1:{}/api/alerts/active?limit=5",
            nginx.http
        ))
        .call()
        .unwrap();
    assert_eq!(redirect.status(), 301);
    assert_eq!(
        redirect.headers()["location"],
        "https://127.0.0.1/api/alerts/active?limit=5"
    );

    drop(nginx);
    let lines = serve.stop();
    assert!(
        lines
            .iter()
            .any(|line| line.contains("route=GET /api/alerts/active status=200")),
        "max-local served the request Nginx passed on: {lines:?}"
    );
}

#[test]
fn the_service_unit_and_its_environment_file_name_only_what_max_local_reads() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let unit = std::fs::read_to_string(repo.join("infra/vps/max-local.service")).unwrap();
    let exec = unit
        .lines()
        .find_map(|line| line.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/srv/max-alerts/current/max-local"));
    let args: Vec<&str> = words.collect();
    assert_eq!(args.first(), Some(&"serve"));
    // clap refuses an option it does not know before it gets to --help.
    let help = Command::new(BIN)
        .args(&args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success(), "{help:?}");
    let help = String::from_utf8(help.stdout).unwrap();

    let read_by_config = std::fs::read_to_string(repo.join("shared/src/config.rs")).unwrap()
        + &std::fs::read_to_string(repo.join("local/src/telemetry.rs")).unwrap()
        + &std::fs::read_to_string(repo.join("shared/src/crm/connection.rs")).unwrap();
    let env = std::fs::read_to_string(repo.join("infra/vps/max-local.env.example")).unwrap();
    let names: Vec<&str> = env
        .lines()
        .map(|line| line.trim_start_matches("# "))
        .filter_map(|line| line.split_once('=').map(|(name, _)| name))
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .collect();
    assert!(names.len() > 10, "{names:?}");
    for name in names {
        let known = help.contains(&format!("[env: {name}="))
            || read_by_config.contains(&format!("\"{name}\""))
            // Read by lambda_http's conventions and the Sentry client themselves.
            || ["RUST_LOG", "SENTRY_ENVIRONMENT", "SENTRY_RELEASE"].contains(&name);
        assert!(known, "max-local does not read {name}");
    }

    // systemd's own check of the unit, with the test's binary in place of the installed one.
    let Ok(verify) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed: the unit's syntax is not checked");
        return;
    };
    assert!(verify.status.success());
    let dir = TempDir::new("max-vps-unit");
    let rendered = substitute(unit, "/srv/max-alerts/current/max-local", BIN);
    std::fs::write(dir.0.join("max-local.service"), rendered).unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.0.join("max-local.service"))
        .output()
        .unwrap();
    let complaints = String::from_utf8_lossy(&verify.stderr).into_owned()
        + &String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && complaints.trim().is_empty(),
        "systemd-analyze verify: {complaints}"
    );
}

#[test]
fn the_crm_sync_units_run_a_command_max_local_knows_every_15_minutes() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let unit = std::fs::read_to_string(repo.join("infra/vps/max-crm-sync@.service")).unwrap();
    let timer = std::fs::read_to_string(repo.join("infra/vps/max-crm-sync@.timer")).unwrap();
    assert!(
        timer.lines().any(|line| line == "OnUnitActiveSec=15min"),
        "{timer}"
    );
    let exec = unit
        .lines()
        .find_map(|line| line.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/srv/max-alerts/current/max-local"));
    let args: Vec<String> = words.map(|word| word.replace("%i", "acme")).collect();
    assert_eq!(args, ["crm", "sync", "--tenant", "acme"]);
    let help = Command::new(BIN)
        .args(&args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success(), "{help:?}");

    let Ok(version) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze is not installed: the units' syntax is not checked");
        return;
    };
    assert!(version.status.success());
    let dir = TempDir::new("max-vps-crm-units");
    std::fs::write(
        dir.0.join("max-crm-sync@.service"),
        substitute(unit, "/srv/max-alerts/current/max-local", BIN),
    )
    .unwrap();
    std::fs::write(dir.0.join("max-crm-sync@.timer"), timer).unwrap();
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.0.join("max-crm-sync@acme.service"))
        .arg(dir.0.join("max-crm-sync@acme.timer"))
        .output()
        .unwrap();
    let complaints = String::from_utf8_lossy(&verify.stderr).into_owned()
        + &String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && complaints.trim().is_empty(),
        "systemd-analyze verify: {complaints}"
    );
}
