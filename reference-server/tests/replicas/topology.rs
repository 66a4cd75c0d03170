//! The topology users run: Debian's `redis-server` on a loopback port, three replicas of the
//! real binary sharing it, and HAProxy in front of them, round-robin.
//!
//! Without `redis-server` or `haproxy` installed, a test says so and passes only if
//! `REFSERVER_TEST_REPLICAS` is not `require` (scripts/test.sh installs both and requires them,
//! so CI cannot skip these tests).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether the tools are here; `None` (with a note) when a test should not run.
pub fn available() -> Option<()> {
    let missing: Vec<&str> = ["redis-server", "haproxy"]
        .into_iter()
        .filter(|tool| find(tool).is_none())
        .collect();
    if missing.is_empty() {
        return Some(());
    }
    let note = format!(
        "{} not installed (Debian: apt-get install redis-server haproxy)",
        missing.join(" and ")
    );
    assert!(
        std::env::var("REFSERVER_TEST_REPLICAS").as_deref() != Ok("require"),
        "{note}, and REFSERVER_TEST_REPLICAS=require"
    );
    eprintln!("skipped: {note}");
    None
}

fn find(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

/// A free loopback port (bound, then released for the child to take).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Waits until `port` answers `probe` (a raw request) with a reply starting with `expect`.
fn wait_for(port: u16, probe: &[u8], expect: &[u8]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
            let mut reply = vec![0u8; expect.len()];
            if stream.write_all(probe).is_ok()
                && stream.read_exact(&mut reply).is_ok()
                && reply == expect
            {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing answered on port {port} within 10 s");
}

/// A process killed (SIGKILL) when dropped.
pub struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `redis-server` with nothing persisted.
pub struct Redis {
    pub port: u16,
    process: Option<Process>,
}

impl Redis {
    pub fn start() -> Self {
        let port = free_port();
        let mut redis = Self {
            port,
            process: None,
        };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Stops it (SIGKILL: as an outage looks to the replicas).
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Starts it again on the same port (empty).
    pub fn restart(&mut self) {
        let child = Command::new(find("redis-server").unwrap())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.process = Some(Process(child));
        wait_for(self.port, b"PING\r\n", b"+PONG");
    }
}

/// One replica of the real binary.
pub struct Replica {
    pub base: String,
    pub port: u16,
    process: Option<Process>,
}

impl Replica {
    /// Starts the binary with `env` (and the store at `store`).
    pub fn start(store: &str, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_reference-server"))
            .args(["--port", "0", "--quiet"])
            .env("REFSERVER_STORE_URL", store)
            .env("REFSERVER_INDEX_PATH", ":memory:")
            .env("REFSERVER_SHUTDOWN_DELAY_SECONDS", "0")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the replica said {line:?}"))
            .to_owned();
        let port = base.rsplit(':').next().unwrap().parse().unwrap();
        let replica = Self {
            base,
            port,
            process: Some(Process(child)),
        };
        // Serving (its store connected) once /readyz answers.
        wait_for(port, b"GET /readyz HTTP/1.0\r\n\r\n", b"HTTP/1.0 200");
        replica
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        self.process = None;
    }

    /// A counter of this replica's `/metrics`, summed over the series whose labels include
    /// each of `labels` (`route="/v1/models"`); 0 when absent.
    pub async fn counter(&self, client: &reqwest::Client, name: &str, labels: &[&str]) -> f64 {
        let text = client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| {
                let series = l.split(' ').next().unwrap_or_default();
                let metric = series.split('{').next().unwrap_or_default();
                metric == name && labels.iter().all(|label| series.contains(label))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

/// HAProxy in front of the replicas, round-robin, checking `/readyz` every 100 ms.
pub struct Balancer {
    pub base: String,
    _process: Process,
    _dir: tempfile::TempDir,
}

impl Balancer {
    pub fn start(replicas: &[Replica]) -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let mut config = format!(
            "global\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 1s\n  timeout client 30s\n  timeout server 30s\n  retries 2\n  option redispatch\n  retry-on conn-failure empty-response\nfrontend api\n  bind 127.0.0.1:{port}\n  default_backend replicas\nbackend replicas\n  balance roundrobin\n  option httpchk GET /readyz\n"
        );
        for (i, replica) in replicas.iter().enumerate() {
            config.push_str(&format!(
                "  server r{i} 127.0.0.1:{} check inter 100ms fall 1 rise 1\n",
                replica.port
            ));
        }
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let child = Command::new(find("haproxy").unwrap())
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let process = Process(child);
        wait_for(port, b"GET /healthz HTTP/1.0\r\n\r\n", b"HTTP/1.");
        Self {
            base: format!("http://127.0.0.1:{port}"),
            _process: process,
            _dir: dir,
        }
    }
}
