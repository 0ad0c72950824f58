//! Harness for the HTTP API tests: a broker with AMQP and the management API
//! on ephemeral ports, rates sampled every 100 ms, and a small blocking HTTP
//! client run off the async runtime.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::Value;
use warren_amqp::{Server, ServerHandle};
use warren_core::{Broker, BrokerConfig};
use warren_http::{HttpHandle, HttpServer, Listeners};

/// How long a test waits for anything.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A running broker with its HTTP API.
pub struct TestApi {
    /// The core.
    pub broker: Arc<Broker>,
    /// AMQP address.
    pub amqp: SocketAddr,
    /// HTTP base URL.
    pub base: String,
    _amqp: ServerHandle,
    _http: HttpHandle,
}

/// An HTTP answer: status and JSON body (Null if empty).
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Body as JSON.
    pub json: Value,
    /// The Location header, if any.
    pub location: Option<String>,
    /// The WWW-Authenticate header, if any.
    pub challenge: Option<String>,
}

impl TestApi {
    /// Starts everything.
    pub async fn start() -> TestApi {
        Self::start_with(Broker::new(BrokerConfig::default())).await
    }

    /// Starts everything around a broker with its data in `dir` (durable
    /// queues keep persistent messages on disk).
    pub async fn start_durable(dir: &std::path::Path) -> TestApi {
        Self::start_with(Broker::open(BrokerConfig::default(), dir).expect("broker opens")).await
    }

    /// Starts the AMQP listener, management API and sampler around `broker`.
    pub async fn start_with(broker: Arc<Broker>) -> TestApi {
        let server = Server::bind(broker.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let http = HttpServer::bind_management(broker.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let listeners = Listeners {
            entries: vec![("amqp".into(), server.local_addr())],
        };
        let http = http.set_listeners(broker.clone(), listeners).start();
        let amqp = server.start();
        warren_http::start_sampler(broker.clone(), Duration::from_millis(100));
        TestApi {
            broker,
            amqp: amqp.local_addr(),
            base: format!("http://{}", http.local_addr()),
            _amqp: amqp,
            _http: http,
        }
    }

    /// A request as `user:pass` (None: no Authorization header).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        auth: Option<(&str, &str)>,
    ) -> Answer {
        let url = format!("{}{path}", self.base);
        let method = method.to_string();
        let auth = auth.map(|(u, p)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        });
        tokio::task::spawn_blocking(move || request(&method, &url, body, auth))
            .await
            .unwrap()
    }

    /// A request as guest.
    pub async fn guest(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.call(method, path, body, Some(("guest", "guest")))
            .await
    }

    /// GET as guest, expecting 200; returns the JSON.
    pub async fn get(&self, path: &str) -> Value {
        let a = self.guest("GET", path, None).await;
        assert_eq!(a.status, 200, "GET {path}: {:?}", a.json);
        a.json
    }

    /// Starts a Prometheus endpoint for this broker; returns it and its base URL.
    pub async fn metrics(&self) -> (HttpHandle, String) {
        let handle = HttpServer::bind_metrics(self.broker.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap()
            .start();
        let base = format!("http://{}", handle.local_addr());
        (handle, base)
    }

    /// A plain-text GET (e.g. of a metrics endpoint), expecting 200.
    pub async fn text(&self, url: &str) -> String {
        let url = url.to_string();
        tokio::task::spawn_blocking(move || {
            let mut response = ureq::get(&url).call().expect("GET");
            assert_eq!(response.status().as_u16(), 200, "GET {url}");
            response.body_mut().read_to_string().expect("body")
        })
        .await
        .unwrap()
    }

    /// A lapin connection as guest.
    pub async fn lapin(&self) -> lapin::Connection {
        self.lapin_as("guest", "guest").await
    }

    /// A lapin connection as a user.
    pub async fn lapin_as(&self, user: &str, pass: &str) -> lapin::Connection {
        let uri = format!("amqp://{user}:{pass}@{}/%2f", self.amqp);
        within(lapin::Connection::connect(
            &uri,
            lapin::ConnectionProperties::default(),
        ))
        .await
        .expect("lapin connects")
    }
}

fn request(method: &str, url: &str, body: Option<Value>, auth: Option<String>) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(TIMEOUT))
        .build()
        .into();
    let with_auth = |b: ureq::RequestBuilder<ureq::typestate::WithoutBody>| match &auth {
        Some(a) => b.header("Authorization", a),
        None => b,
    };
    let with_auth_body = |b: ureq::RequestBuilder<ureq::typestate::WithBody>| match &auth {
        Some(a) => b.header("Authorization", a),
        None => b,
    };
    let result = match method {
        "GET" => with_auth(agent.get(url)).call(),
        "DELETE" => with_auth(agent.delete(url)).call(),
        "PUT" => with_auth_body(agent.put(url))
            .header("Content-Type", "application/json")
            .send(body.map(|b| b.to_string()).unwrap_or_default()),
        _ => with_auth_body(agent.post(url))
            .header("Content-Type", "application/json")
            .send(body.map(|b| b.to_string()).unwrap_or_default()),
    };
    let mut response = result.expect("HTTP request");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let location = header("location");
    let challenge = header("www-authenticate");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Answer {
        status,
        json,
        location,
        challenge,
    }
}

/// Awaits a future with the default timeout.
pub async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, fut).await.expect("timed out")
}

/// Polls `check` until it returns Some, or panics after the timeout.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
