//! A real `nats-server` for tests, found on `PATH` and started on a free loopback port.
//!
//! Without `nats-server` the tests that need it skip with a note, unless `POW_REQUIRE_NATS=1`
//! (set by `.ci/run`, which installs the Debian package), which makes its absence a failure.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set to `1` to make a missing `nats-server` fail the tests instead of skipping them.
pub const REQUIRE_NATS_ENV: &str = "POW_REQUIRE_NATS";

/// A running `nats-server`, killed when dropped.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    config: Option<PathBuf>,
    _dir: tempfile::TempDir,
}

/// The `nats-server` program on `PATH` (or in `/usr/sbin`, where Debian puts it).
pub fn nats_server_program() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file())
}

/// A free loopback TCP port (free when asked; the server binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl NatsServer {
    /// Starts a server on a free loopback port; `None` (after a note on stderr) when
    /// `nats-server` is not installed and [`REQUIRE_NATS_ENV`] is not set.
    pub fn start() -> Option<NatsServer> {
        NatsServer::start_with_config("")
    }

    /// Starts a server with extra configuration text (for example an `authorization` block).
    pub fn start_with_config(config: &str) -> Option<NatsServer> {
        if nats_server_program().is_none() {
            if std::env::var(REQUIRE_NATS_ENV).as_deref() == Ok("1") {
                panic!("nats-server is not installed ({REQUIRE_NATS_ENV}=1): apt-get install nats-server");
            }
            eprintln!("SKIPPED: nats-server is not on PATH (apt-get install nats-server)");
            return None;
        }
        let dir = tempfile::tempdir().expect("a temporary folder");
        let config_path = (!config.is_empty()).then(|| {
            let p = dir.path().join("nats.conf");
            std::fs::write(&p, config).expect("writing the NATS config");
            p
        });
        let mut server = NatsServer {
            child: None,
            port: free_port(),
            config: config_path,
            _dir: dir,
        };
        server.launch();
        Some(server)
    }

    fn launch(&mut self) {
        let program = nats_server_program().expect("nats-server");
        let mut cmd = Command::new(program);
        cmd.args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(c) = &self.config {
            cmd.arg("-c").arg(c);
        }
        self.child = Some(cmd.spawn().expect("nats-server starts"));
        let end = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < end,
                "nats-server did not listen within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (clients see the connection drop).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}
