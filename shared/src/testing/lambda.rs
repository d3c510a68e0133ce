//! Running a function's real binary as AWS Lambda runs it: an emulated Lambda Runtime API on
//! loopback (the four routes `lambda_runtime` uses), and moto's AWS emulator.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc, oneshot};

/// What the function answered to one invocation.
#[derive(Debug)]
pub enum Outcome {
    Response(serde_json::Value),
    Error(serde_json::Value),
}

impl Outcome {
    /// The response, or a panic naming the error.
    pub fn response(self) -> serde_json::Value {
        match self {
            Outcome::Response(value) => value,
            Outcome::Error(error) => panic!("the function failed: {error}"),
        }
    }
}

struct State {
    queue: Mutex<mpsc::Receiver<(String, String)>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    init_error: Mutex<Option<String>>,
}

/// An emulated Lambda Runtime API; its `address()` is a function's `AWS_LAMBDA_RUNTIME_API`.
pub struct RuntimeApi {
    address: SocketAddr,
    events: mpsc::Sender<(String, String)>,
    state: Arc<State>,
    next_id: AtomicU64,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (events, queue) = mpsc::channel(16);
        let state = Arc::new(State {
            queue: Mutex::new(queue),
            pending: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
        });
        let served = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = served.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            address,
            events,
            state,
            next_id: AtomicU64::new(1),
        }
    }

    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Sends an event to the function and waits for its answer.
    pub async fn invoke(&self, payload: &str) -> Outcome {
        let id = format!("req-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let (done, answer) = oneshot::channel();
        self.state.pending.lock().await.insert(id.clone(), done);
        self.events
            .send((id, payload.to_owned()))
            .await
            .expect("queue");
        match tokio::time::timeout(Duration::from_secs(30), answer).await {
            Ok(Ok(outcome)) => outcome,
            _ => panic!(
                "no answer from the function within 30 s (init error: {:?})",
                self.state.init_error.lock().await
            ),
        }
    }
}

fn reply(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let parse = |bytes: &Bytes| serde_json::from_slice(bytes).unwrap_or(serde_json::Value::Null);
    if path == "/2018-06-01/runtime/invocation/next" {
        let Some((id, payload)) = state.queue.lock().await.recv().await else {
            return Ok(reply(StatusCode::GONE, Bytes::new()));
        };
        let deadline = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
            + 30_000;
        let mut response = reply(StatusCode::OK, Bytes::from(payload));
        let headers = response.headers_mut();
        let value = |text: String| text.parse().expect("header value");
        headers.insert("content-type", value("application/json".into()));
        headers.insert("lambda-runtime-aws-request-id", value(id));
        headers.insert("lambda-runtime-deadline-ms", value(deadline.to_string()));
        headers.insert(
            "lambda-runtime-invoked-function-arn",
            value("arn:aws:lambda:eu-west-3:123456789012:function:test:live".into()),
        );
        headers.insert(
            "lambda-runtime-trace-id",
            value("Root=1-00000000-000000000000000000000000".into()),
        );
        return Ok(response);
    }
    if path == "/2018-06-01/runtime/init/error" {
        *state.init_error.lock().await = Some(String::from_utf8_lossy(&body).into_owned());
        return Ok(reply(StatusCode::ACCEPTED, Bytes::new()));
    }
    if let Some(rest) = path.strip_prefix("/2018-06-01/runtime/invocation/") {
        let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
        let outcome = match kind {
            "response" => Outcome::Response(parse(&body)),
            "error" => Outcome::Error(parse(&body)),
            _ => return Ok(reply(StatusCode::NOT_FOUND, Bytes::new())),
        };
        if let Some(done) = state.pending.lock().await.remove(id) {
            let _ = done.send(outcome);
        }
        return Ok(reply(StatusCode::ACCEPTED, Bytes::new()));
    }
    Ok(reply(StatusCode::NOT_FOUND, Bytes::new()))
}

/// A function binary started against a runtime API, killed when dropped.
pub struct FunctionProcess {
    child: Option<Child>,
}

impl FunctionProcess {
    /// Starts `binary` as Lambda would (only the runtime's variables, plus `env`).
    pub fn start(binary: &str, api: &RuntimeApi, env: &[(&str, &str)]) -> Self {
        let name = Path::new(binary)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("function")
            .to_owned();
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        Self {
            child: Some(command.spawn().expect("the function binary starts")),
        }
    }

    /// The process id (for reading its memory use in `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Stops the function and returns everything it logged.
    pub fn stop(mut self) -> String {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let output = child.wait_with_output().expect("output");
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// moto's AWS emulator on a free loopback port (`moto_server` on PATH), stopped when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Self {
        let port = StdListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server on PATH (scripts/test installs it into target/py)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The environment that points an AWS SDK or CLI at this emulator.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_DEFAULT_REGION", "eu-west-3".into()),
            ("AWS_REGION", "eu-west-3".into()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
        ]
    }

    /// A command (such as `aws` or `bash`) with the emulator's environment.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        command.env_remove("AWS_PROFILE").envs(self.env());
        command
    }

    /// Runs the AWS CLI against the emulator and returns its output.
    pub fn aws(&self, args: &[&str]) -> String {
        let output = self
            .command("aws")
            .args(args)
            .output()
            .expect("aws on PATH");
        assert!(
            output.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .expect("text")
            .trim()
            .to_owned()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A function binary run as Lambda runs it, against a fresh database holding the sample events'
/// key and, for tenant `macrea`, the alert they name: for the alert routes' runtime tests.
pub struct EventsFunction {
    pub test: super::TestDb,
    api: RuntimeApi,
    _process: FunctionProcess,
}

impl EventsFunction {
    pub async fn start(binary: &str) -> Self {
        let test = super::TestDb::new().await;
        test.register_events_key().await;
        test.insert_events_alert("macrea").await;
        let api = RuntimeApi::start().await;
        let process = FunctionProcess::start(binary, &api, &[("DATABASE_URL", &test.url)]);
        Self {
            test,
            api,
            _process: process,
        }
    }

    /// The status and JSON body of the function's answer to `event`.
    pub async fn answer(&self, event: &str) -> (u64, serde_json::Value) {
        super::gateway_response(&self.api.invoke(event).await.response())
    }
}
