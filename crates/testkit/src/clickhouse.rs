//! A real ClickHouse server for tests, and a fresh database per test.
//!
//! `tests/run.sh` starts one shared server and exports its URL in
//! `X402SCOPE_TEST_CLICKHOUSE_URL`; [`fresh_database`] uses it. Without it (a bare
//! `cargo test`), the first call starts a private server for the test process.
//! [`ClickHouseServer::start`] starts a private one explicitly, for tests that
//! stop and restart the server.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::process::OwnedChild;
use crate::{TestkitError, free_port, repo_root};

/// The variable through which the test command shares its server.
pub const SHARED_URL_VAR: &str = "X402SCOPE_TEST_CLICKHOUSE_URL";
/// Set to `none` when the shared server takes no compressed transfers (the
/// chDB shim that stands in for a current ClickHouse version).
pub const COMPRESSION_VAR: &str = "X402SCOPE_TEST_CLICKHOUSE_COMPRESSION";

/// A ClickHouse server process with its data in a temporary directory.
#[derive(Debug)]
pub struct ClickHouseServer {
    child: Option<OwnedChild>,
    dir: PathBuf,
    http_port: u16,
    tcp_port: u16,
}

fn server_binary() -> Result<PathBuf, TestkitError> {
    for candidate in ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"] {
        if Path::new(candidate).is_file() {
            return Ok(PathBuf::from(candidate));
        }
    }
    Err(TestkitError::NotInstalled {
        what: "clickhouse-server (Debian package)",
        path: PathBuf::from("/usr/sbin/clickhouse-server"),
    })
}

impl ClickHouseServer {
    /// Start a private server on free loopback ports; it is killed on drop.
    pub fn start() -> Result<Self, TestkitError> {
        let dir = std::env::temp_dir().join(format!(
            "x402scope-ch-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let mut server = ClickHouseServer {
            child: None,
            dir,
            http_port: free_port()?,
            tcp_port: free_port()?,
        };
        server.write_config()?;
        server.spawn()?;
        Ok(server)
    }

    fn write_config(&self) -> Result<(), TestkitError> {
        let templates = repo_root().join("tests/clickhouse");
        std::fs::create_dir_all(self.dir.join("conf"))?;
        std::fs::create_dir_all(self.dir.join("log"))?;
        std::fs::create_dir_all(self.dir.join("data"))?;
        for file in ["config.xml", "users.xml"] {
            let text = std::fs::read_to_string(templates.join(file))?
                .replace("@DIR@", &self.dir.display().to_string())
                .replace("@HTTP_PORT@", &self.http_port.to_string())
                .replace("@TCP_PORT@", &self.tcp_port.to_string());
            std::fs::write(self.dir.join("conf").join(file), text)?;
        }
        Ok(())
    }

    fn spawn(&mut self) -> Result<(), TestkitError> {
        let mut cmd = Command::new(server_binary()?);
        cmd.arg(format!(
            "--config-file={}",
            self.dir.join("conf/config.xml").display()
        ));
        let child = OwnedChild::spawn("clickhouse-server", cmd)?;
        self.child = Some(child);
        wait_ready(&self.http_url(), Duration::from_secs(30))
    }

    /// The HTTP endpoint, `http://127.0.0.1:PORT`.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// Kill the server (its data stays), as a crash or a network cut would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill();
        }
    }

    /// Start it again on the same ports and data.
    pub fn restart(&mut self) -> Result<(), TestkitError> {
        self.stop();
        self.spawn()
    }
}

impl Drop for ClickHouseServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Wait until `GET /ping` answers.
fn wait_ready(url: &str, timeout: Duration) -> Result<(), TestkitError> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if http(url, "GET", "/ping", "").is_ok_and(|(status, _)| status == 200) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(TestkitError::NotReady {
        what: format!("clickhouse-server at {url}"),
        secs: timeout.as_secs(),
        detail: String::new(),
    })
}

/// A setup request to the server (30 s for slow DDL).
fn http(base: &str, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    crate::http::request(base, method, path, &[], body, Duration::from_secs(30))
}

/// Run one SQL statement over HTTP; errors carry the server's message.
pub fn execute(url: &str, sql: &str) -> Result<String, TestkitError> {
    let (status, body) = http(url, "POST", "/", sql)?;
    if status != 200 {
        return Err(TestkitError::Io(std::io::Error::other(format!(
            "ClickHouse answered {status} to {sql:?}: {body}"
        ))));
    }
    Ok(body)
}

/// A database created for one test, dropped when this value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    pub name: String,
}

impl TestDatabase {
    /// `clickhouse://default@127.0.0.1:PORT/NAME`, the form x402scope's config takes.
    pub fn store_url(&self) -> String {
        let mut url = format!(
            "clickhouse://default@{}/{}",
            self.url.trim_start_matches("http://"),
            self.name
        );
        if std::env::var(COMPRESSION_VAR).is_ok_and(|v| v == "none") {
            url.push_str("?compression=none");
        }
        url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = execute(&self.url, &format!("DROP DATABASE IF EXISTS {}", self.name));
    }
}

/// The shared server's URL: the test command's, or one started for this process.
pub fn shared_url() -> Result<String, TestkitError> {
    if let Ok(url) = std::env::var(SHARED_URL_VAR)
        && !url.is_empty()
    {
        return Ok(url);
    }
    static PRIVATE: OnceLock<Result<String, String>> = OnceLock::new();
    PRIVATE
        .get_or_init(|| {
            // Started from a thread that never ends, so that PR_SET_PDEATHSIG (tied
            // to the spawning thread) fires only when the process exits.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || match ClickHouseServer::start() {
                Ok(server) => {
                    let _ = tx.send(Ok(server.http_url()));
                    let _keep = server;
                    loop {
                        std::thread::park();
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                }
            });
            rx.recv().unwrap_or_else(|e| Err(e.to_string()))
        })
        .clone()
        .map_err(|detail| TestkitError::NotReady {
            what: "a private ClickHouse server".into(),
            secs: 30,
            detail: format!(": {detail}"),
        })
}

/// A fresh database named after the test, on the shared server.
pub fn fresh_database(test_name: &str) -> Result<TestDatabase, TestkitError> {
    let url = shared_url()?;
    let clean: String = test_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let name = format!(
        "t_{clean}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    execute(&url, &format!("CREATE DATABASE {name}"))?;
    Ok(TestDatabase { url, name })
}
