//! Test harness: the real subtensor runtimes in `tests/data/runtimes/` executed by chopsticks
//! (`@acala-network/chopsticks`, pinned in `tests/chopsticks/package-lock.json` and installed
//! and patched by `scripts/install-chopsticks.sh`) on loopback.
//!
//! ```no_run
//! use pow_chopsticks::{Node, Options, Runtime};
//! let Some(node) = pow_chopsticks::start_or_skip(Runtime::Spec293, Options::default()) else {
//!     return; // chopsticks is not installed (and POW_REQUIRE_CHOPSTICKS is not 1)
//! };
//! node.subnet_setup(1, 1_000).unwrap();
//! node.new_block().unwrap();
//! println!("{} at #{}", node.ws_url(), node.best_number().unwrap());
//! ```
//!
//! Blocks are built only on [`Node::new_block`] (chopsticks' `dev_newBlock`) or by the
//! background thread of [`Options::block_interval`]; an extrinsic that arrives is also put in a
//! block at once. Storage is changed with chopsticks' `dev_setStorage` ([`Node::set_storage`]).

use std::fmt;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonrpsee::core::client::ClientT;
use jsonrpsee::core::params::ArrayParams;
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use serde_json::{json, Value};

/// Storage key of `Timestamp.Now` (a u64 of milliseconds, SCALE little-endian). Neither genesis
/// holds it; without it block #1 of spec 293 (1,000 ms Aura slots) sometimes fails with
/// "Timestamp slot must match CurrentSlot".
pub const TIMESTAMP_NOW_KEY: &str =
    "0xf0c365c3cf59d671eb72da0e7a4113c49f1f0515f462cdcf84e0f1d6045dfcbb";

/// Environment variable: `1` makes a missing chopsticks a test failure instead of a skip.
pub const REQUIRE_ENV: &str = "POW_REQUIRE_CHOPSTICKS";
/// Environment variable read by the patched chopsticks (see `scripts/install-chopsticks.sh`):
/// `1` keeps chopsticks' original, non-conforming `chainHead_v1_follow` runtime events.
pub const RAW_CHAINHEAD_ENV: &str = "POW_CHOPSTICKS_RAW_CHAINHEAD";
/// Marker the install script leaves in every patched chopsticks file.
const PATCH_MARK: &str = "/* pow-host patch */";

/// How to install chopsticks, for skip and failure messages.
pub const INSTALL_HINT: &str =
    "install it with scripts/install-chopsticks.sh (needs node and npm: apt-get install nodejs npm)";

/// Byte order in which a runtime reads the 32-byte seal as a 256-bit integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealOrder {
    BigEndian,
    LittleEndian,
}

/// The real subtensor runtimes in `tests/data/runtimes/` (see ORIGIN.md there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    /// node-subtensor spec 218 (raonet): legacy `register`, seal read big-endian. No test key
    /// is sudo; PoW registration is off on subnets 0 and 1 at genesis.
    Spec218,
    /// node-subtensor spec 293 (aura-dev, fast runtime, 1,000 ms slots): legacy `register`,
    /// seal read little-endian. `//Alice` is sudo and funded; subnet 1 allows PoW.
    Spec293,
}

impl Runtime {
    pub const ALL: [Runtime; 2] = [Runtime::Spec218, Runtime::Spec293];

    pub fn name(self) -> &'static str {
        match self {
            Runtime::Spec218 => "spec218",
            Runtime::Spec293 => "spec293",
        }
    }

    /// The raw chain specification (wasm in genesis), as committed.
    pub fn spec_file(self) -> PathBuf {
        let file = match self {
            Runtime::Spec218 => "raonet-spec218.json",
            Runtime::Spec293 => "aura-dev-spec293-raw.json",
        };
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../data/runtimes")
            .join(file)
    }

    pub fn spec_version(self) -> u32 {
        match self {
            Runtime::Spec218 => 218,
            Runtime::Spec293 => 293,
        }
    }

    /// Seal order of the legacy `register` (big-endian up to spec 277, little-endian from 283).
    pub fn seal_order(self) -> SealOrder {
        match self {
            Runtime::Spec218 => SealOrder::BigEndian,
            Runtime::Spec293 => SealOrder::LittleEndian,
        }
    }

    /// `N` of the `1010 {"invalid":{"custom":N}}` the node answers to a `register` submitted
    /// while `RegistrationsThisInterval >= 3 * TargetRegistrationsPerInterval` (found by
    /// experiment, see tests/data/runtimes/ORIGIN.md).
    pub fn too_many_registrations_this_interval_code(self) -> u8 {
        match self {
            Runtime::Spec218 => 5,
            Runtime::Spec293 => 6,
        }
    }
}

/// Options of [`Node::start`].
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Keep chopsticks' original `chainHead_v1_follow` runtime events (a bare RuntimeVersion,
    /// which subxt rejects), so that only the legacy RPC family (`chain_subscribeNewHeads`,
    /// `author_submitAndWatchExtrinsic`) works for a subxt client.
    pub raw_chainhead: bool,
    /// Build a block (`dev_newBlock`) on this period from a background thread. 6 s worked on
    /// a 2-core machine; 3 s starved it.
    pub block_interval: Option<Duration>,
    /// Database file for the chain's blocks. When it already holds blocks, the chain resumes
    /// from its latest one. Default: a file in the node's temporary directory.
    pub resume_db: Option<PathBuf>,
    /// Loopback port; default: a free one.
    pub port: Option<u16>,
    /// How long to wait for the RPC port; default 60 s.
    pub start_timeout: Option<Duration>,
}

/// Why a node could not be started or a call failed.
#[derive(Debug)]
pub enum Error {
    /// chopsticks (or node) is not installed; the test should skip.
    Skip(String),
    /// The node did not start (the message holds the end of its log).
    Start(String),
    /// A JSON-RPC call failed (the message holds the server's error, e.g. `1010`).
    Rpc(String),
    Io(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Skip(m) => write!(f, "skipped: {m}"),
            Error::Start(m) => write!(f, "chopsticks did not start: {m}"),
            Error::Rpc(m) => write!(f, "rpc: {m}"),
            Error::Io(e) => write!(f, "io: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where chopsticks is installed: `$POW_CHOPSTICKS_DIR` or `tests/chopsticks`.
pub fn install_dir() -> PathBuf {
    std::env::var_os("POW_CHOPSTICKS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn require() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// Checks that node and a patched chopsticks are installed. `Err(Error::Skip)` when not.
pub fn check_installed() -> Result<PathBuf> {
    let dir = install_dir();
    let entry = dir.join("node_modules/@acala-network/chopsticks/chopsticks.cjs");
    if !entry.is_file() {
        return Err(Error::Skip(format!(
            "chopsticks is not installed ({} missing); {INSTALL_HINT}",
            entry.display()
        )));
    }
    let core = dir.join("node_modules/@acala-network/chopsticks-core/dist");
    for file in [
        "cjs/wasm-executor/index.js",
        "cjs/rpc/rpc-spec/chainHead_v1.js",
    ] {
        let path = core.join(file);
        let text = fs::read_to_string(&path).unwrap_or_default();
        if !text.contains(PATCH_MARK) {
            return Err(Error::Skip(format!(
                "chopsticks is installed but not patched ({}); {INSTALL_HINT}",
                path.display()
            )));
        }
    }
    match Command::new(node_bin()).arg("--version").output() {
        Ok(o) if o.status.success() => Ok(entry),
        _ => Err(Error::Skip(format!(
            "node ({}) does not run; {INSTALL_HINT}",
            node_bin().display()
        ))),
    }
}

fn node_bin() -> PathBuf {
    std::env::var_os("POW_NODE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("node"))
}

/// [`Node::start`] for tests: `None` (after printing `skipped: ...`) when chopsticks is not
/// installed, unless `POW_REQUIRE_CHOPSTICKS=1`; panics on every other failure.
pub fn start_or_skip(runtime: Runtime, opts: Options) -> Option<Node> {
    match Node::start(runtime, opts) {
        Ok(node) => Some(node),
        Err(Error::Skip(m)) => {
            eprintln!("skipped: {m}");
            None
        }
        Err(e) => panic!("{e}"),
    }
}

/// A blocking JSON-RPC client over WebSocket (jsonrpsee on its own small tokio runtime).
struct Rpc {
    client: Option<WsClient>,
    rt: Option<tokio::runtime::Runtime>,
}

impl Rpc {
    fn connect(url: &str) -> Result<Rpc> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("pow-chopsticks-rpc")
            .enable_all()
            .build()?;
        let url = url.to_string();
        let client = run_blocking(&rt, async move {
            WsClientBuilder::default()
                .request_timeout(Duration::from_secs(180))
                .max_response_size(64 << 20)
                .build(url)
                .await
        })
        .map_err(|e| Error::Rpc(format!("connect: {e}")))?;
        Ok(Rpc {
            client: Some(client),
            rt: Some(rt),
        })
    }

    fn call(&self, method: &str, params: Vec<Value>) -> Result<Value> {
        let (Some(client), Some(rt)) = (&self.client, &self.rt) else {
            return Err(Error::Rpc("closed".into()));
        };
        let mut p = ArrayParams::new();
        for v in params {
            p.insert(v).map_err(|e| Error::Rpc(e.to_string()))?;
        }
        run_blocking(rt, client.request::<Value, _>(method, p))
            .map_err(|e| Error::Rpc(format!("{method}: {e}")))
    }
}

/// `rt.block_on(fut)`, also from inside another tokio runtime (a `#[tokio::test]`), where
/// `block_on` would panic: then on a scoped thread.
fn run_blocking<F>(rt: &tokio::runtime::Runtime, fut: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| {
            s.spawn(|| rt.block_on(fut))
                .join()
                .expect("rpc thread panicked")
        })
    } else {
        rt.block_on(fut)
    }
}

impl Drop for Rpc {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            {
                let _guard = rt.enter();
                self.client.take();
            }
            rt.shutdown_background();
        }
    }
}

/// The background block builder of [`Options::block_interval`].
struct Ticker {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(rpc: Arc<Rpc>, period: Duration) -> Ticker {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let stop2 = stop.clone();
        let handle = std::thread::Builder::new()
            .name("pow-chopsticks-blocks".into())
            .spawn(move || {
                let (lock, cvar) = &*stop2;
                let mut stopped = lock.lock().unwrap();
                let mut reported = false;
                loop {
                    let deadline = Instant::now() + period;
                    while !*stopped {
                        let now = Instant::now();
                        if now >= deadline {
                            break;
                        }
                        stopped = cvar.wait_timeout(stopped, deadline - now).unwrap().0;
                    }
                    if *stopped {
                        return;
                    }
                    drop(stopped);
                    if let Err(e) = rpc.call("dev_newBlock", vec![]) {
                        if !reported {
                            eprintln!("pow-chopsticks: background dev_newBlock failed: {e}");
                            reported = true;
                        }
                    }
                    stopped = lock.lock().unwrap();
                }
            })
            .expect("spawn block thread");
        Ticker {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        let (lock, cvar) = &*self.stop;
        *lock.lock().unwrap() = true;
        cvar.notify_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A chopsticks process running one of the real runtimes on 127.0.0.1.
pub struct Node {
    runtime: Runtime,
    opts: Options,
    entry: PathBuf,
    dir: tempfile::TempDir,
    genesis: PathBuf,
    db: PathBuf,
    port: u16,
    starts: u32,
    log: PathBuf,
    child: Option<Child>,
    rpc: Option<Arc<Rpc>>,
    ticker: Option<Ticker>,
}

impl Node {
    /// Starts chopsticks on `runtime`. `Err(Error::Skip)` when chopsticks is not installed;
    /// with `POW_REQUIRE_CHOPSTICKS=1` that panics instead, saying how to install it.
    pub fn start(runtime: Runtime, opts: Options) -> Result<Node> {
        let entry = match check_installed() {
            Ok(entry) => entry,
            Err(Error::Skip(m)) if require() => panic!("{REQUIRE_ENV}=1 but {m}"),
            Err(e) => return Err(e),
        };
        let dir = tempfile::Builder::new()
            .prefix(&format!("pow-chopsticks-{}-", runtime.name()))
            .tempdir()?;
        let genesis = dir.path().join("genesis.json");
        write_genesis(runtime, &genesis)?;
        let db = opts
            .resume_db
            .clone()
            .unwrap_or_else(|| dir.path().join("chain.sqlite"));
        let resume = db.is_file();
        let port = match opts.port {
            Some(p) => p,
            None => free_port()?,
        };
        let mut node = Node {
            runtime,
            entry,
            log: dir.path().join("chopsticks-0.log"),
            dir,
            genesis,
            db,
            port,
            starts: 0,
            child: None,
            rpc: None,
            ticker: None,
            opts,
        };
        node.spawn(resume, node.opts.port.is_some())?;
        Ok(node)
    }

    pub fn runtime(&self) -> Runtime {
        self.runtime
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `ws://127.0.0.1:PORT` (the same across restarts).
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// The current chopsticks log (one file per start).
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The database file of the chain's blocks.
    pub fn db_path(&self) -> &Path {
        &self.db
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn spawn(&mut self, resume: bool, exact_port: bool) -> Result<()> {
        self.starts += 1;
        self.log = self
            .dir
            .path()
            .join(format!("chopsticks-{}.log", self.starts));
        let config = self.dir.path().join(format!("config-{}.yml", self.starts));
        let q = |p: &Path| Value::String(p.display().to_string()).to_string();
        let mut yml = format!(
            "genesis: {}\nhost: 127.0.0.1\nport: {}\nbuild-block-mode: Manual\n\
             allow-unresolved-imports: true\ndb: {}\n",
            q(&self.genesis),
            self.port,
            q(&self.db)
        );
        if resume {
            // `--resume` on the command line does not parse; in a config file it does.
            yml.push_str("resume: true\n");
        }
        fs::write(&config, yml)?;
        let log = fs::File::create(&self.log)?;
        let mut cmd = Command::new(node_bin());
        cmd.arg(&self.entry)
            .arg("--config")
            .arg(&config)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0);
        if self.opts.raw_chainhead {
            cmd.env(RAW_CHAINHEAD_ENV, "1");
        } else {
            cmd.env_remove(RAW_CHAINHEAD_ENV);
        }
        let child = cmd
            .spawn()
            .map_err(|e| Error::Start(format!("spawn {}: {e}", node_bin().display())))?;
        self.child = Some(child);
        match self.wait_ready(exact_port) {
            Ok(()) => {}
            Err(e) => {
                self.kill();
                return Err(e);
            }
        }
        if resume {
            self.fix_genesis_hash()?;
        }
        if let Some(period) = self.opts.block_interval {
            let rpc = self.rpc.clone().expect("connected");
            self.ticker = Some(Ticker::start(rpc, period));
        }
        Ok(())
    }

    fn wait_ready(&mut self, exact_port: bool) -> Result<()> {
        let timeout = self.opts.start_timeout.unwrap_or(Duration::from_secs(60));
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(Error::Start(format!(
                    "exited ({status}); log {}:\n{}",
                    self.log.display(),
                    self.log_tail(40)
                )));
            }
            let text = fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(port) = listening_port(&text) {
                if port != self.port {
                    if exact_port {
                        return Err(Error::Start(format!(
                            "port {} was taken; chopsticks moved to {port}",
                            self.port
                        )));
                    }
                    self.port = port;
                }
                let rpc = Rpc::connect(&self.ws_url())?;
                self.rpc = Some(Arc::new(rpc));
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Start(format!(
                    "no RPC port within {timeout:?}; log {}:\n{}",
                    self.log.display(),
                    self.log_tail(40)
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A chain resumed from its database may report a genesis hash other than the one the
    /// runtime checks signatures against (`System.BlockHash(0)`): every signed extrinsic then
    /// fails with `1010 badProof`. Make them agree.
    fn fix_genesis_hash(&self) -> Result<()> {
        let reported = self.rpc("chain_getBlockHash", vec![json!(0)])?;
        let key = format!(
            "0x{}",
            hex::encode(map_key(
                "System",
                "BlockHash",
                &[(Hasher::Twox64Concat, &0u32.to_le_bytes())]
            ))
        );
        let stored = self.rpc("state_getStorage", vec![json!(key)])?;
        if let Some(hash) = reported.as_str() {
            if stored.as_str() != Some(hash) {
                self.set_storage(json!([[key, hash]]))?;
            }
        }
        Ok(())
    }

    /// The last `lines` lines of the current log.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut text = String::new();
        if let Ok(mut f) = fs::File::open(&self.log) {
            let len = f.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 << 10)));
            let _ = f.read_to_string(&mut text);
        }
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn client(&self) -> Result<&Rpc> {
        self.rpc
            .as_deref()
            .ok_or_else(|| Error::Rpc("node is not running".into()))
    }

    /// Any JSON-RPC call; `params` as a JSON array.
    pub fn rpc(&self, method: &str, params: Vec<Value>) -> Result<Value> {
        self.client()?.call(method, params)
    }

    /// Builds one block (`dev_newBlock`); returns its hash.
    pub fn new_block(&self) -> Result<String> {
        let v = self.rpc("dev_newBlock", vec![])?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// Builds `count` blocks.
    pub fn new_blocks(&self, count: u32) -> Result<String> {
        let v = self.rpc("dev_newBlock", vec![json!({ "count": count })])?;
        Ok(v.as_str().unwrap_or_default().to_string())
    }

    /// chopsticks' `dev_setStorage` on the best block. Either by names, e.g.
    /// `{"SubtensorModule": {"Difficulty": [[[1], "1000"]]}, "Sudo": {"Key": "0x…"}}` (a map
    /// entry is `[[key args…], value]`; u64/u128 values as decimal strings, account ids as
    /// 0x-hex or SS58), or raw: `[["0xkey", "0xvalue"]]` (`null` value deletes).
    pub fn set_storage(&self, storage: Value) -> Result<()> {
        self.rpc("dev_setStorage", vec![storage])?;
        Ok(())
    }

    pub fn best_number(&self) -> Result<u64> {
        let h = self.rpc("chain_getHeader", vec![])?;
        parse_number(&h["number"])
            .ok_or_else(|| Error::Rpc(format!("chain_getHeader: no number in {h}")))
    }

    pub fn best_hash(&self) -> Result<String> {
        let v = self.rpc("chain_getBlockHash", vec![])?;
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| Error::Rpc(format!("chain_getBlockHash: {v}")))
    }

    pub fn block_hash(&self, number: u64) -> Result<Option<String>> {
        let v = self.rpc("chain_getBlockHash", vec![json!(number)])?;
        Ok(v.as_str().map(str::to_string))
    }

    /// The raw value under `key` at the best block.
    pub fn read_storage(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let v = self.rpc(
            "state_getStorage",
            vec![json!(format!("0x{}", hex::encode(key)))],
        )?;
        match v.as_str() {
            None => Ok(None),
            Some(s) => hex::decode(s.trim_start_matches("0x"))
                .map(Some)
                .map_err(|e| Error::Rpc(format!("state_getStorage: {e}"))),
        }
    }

    /// SIGKILLs chopsticks (and its process group): the port goes dead at once.
    pub fn kill(&mut self) {
        self.ticker = None;
        self.rpc = None;
        if let Some(mut child) = self.child.take() {
            let pid = child.id() as libc::pid_t;
            // SAFETY: kill(2) on the process group this Node created (process_group(0)).
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the node if it runs and starts it again on the same port, resuming from its
    /// database: the chain continues at the same height with the same blocks.
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        let resume = self.db.is_file();
        self.spawn(resume, true)
    }

    /// Kills the node if it runs and starts a new chain from genesis on the same port (a new
    /// database): its best block is lower than before, its hashes differ.
    pub fn restart_fresh(&mut self) -> Result<()> {
        self.kill();
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.db.clone().into_os_string();
            p.push(suffix);
            let _ = fs::remove_file(PathBuf::from(p));
        }
        write_genesis(self.runtime, &self.genesis)?;
        self.spawn(false, true)
    }

    // ---- SubtensorModule and account helpers ----

    /// Sets per-subnet `SubtensorModule` items, e.g. `&[("Difficulty", json!("1000"))]`:
    /// a bool, a u16 (JSON number) or a u64 (decimal string).
    ///
    /// Written as raw SCALE under the computed keys, not by name: chopsticks 1.5.1's
    /// `dev_setStorage` by name treats a falsy value (`false`, `0`) as "delete the entry", so
    /// the item falls back to its default (spec 293's `NetworkPowRegistrationAllowed`
    /// defaults to true: setting it false by name left PoW registration open).
    pub fn set_subnet_items(&self, netuid: u16, items: &[(&str, Value)]) -> Result<()> {
        let mut raw = Vec::new();
        for (name, value) in items {
            let bytes = match value {
                Value::Bool(b) => vec![u8::from(*b)],
                Value::Number(n) => {
                    let n = n
                        .as_u64()
                        .and_then(|n| u16::try_from(n).ok())
                        .ok_or_else(|| Error::Rpc(format!("{name}: {n} is not a u16")))?;
                    n.to_le_bytes().to_vec()
                }
                Value::String(s) => s
                    .parse::<u64>()
                    .map_err(|e| Error::Rpc(format!("{name}: {s}: {e}")))?
                    .to_le_bytes()
                    .to_vec(),
                other => return Err(Error::Rpc(format!("{name}: unsupported value {other}"))),
            };
            let key = map_key(
                "SubtensorModule",
                name,
                &[(Hasher::Identity, &netuid.to_le_bytes())],
            );
            raw.push(json!([
                format!("0x{}", hex::encode(key)),
                format!("0x{}", hex::encode(bytes))
            ]));
        }
        self.set_storage(Value::Array(raw))
    }

    /// Applies every field that is set in `subnet`.
    pub fn setup_subnet(&self, subnet: &Subnet) -> Result<()> {
        self.set_subnet_items(subnet.netuid, &subnet.items())
    }

    /// Makes `netuid` accept PoW registrations at exactly `difficulty`: NetworksAdded,
    /// NetworkRegistrationAllowed and NetworkPowRegistrationAllowed true, Difficulty =
    /// MinDifficulty = MaxDifficulty = `difficulty` (so the interval adjustment keeps it),
    /// RegistrationsThisInterval and RegistrationsThisBlock 0. MaxRegistrationsPerBlock is
    /// left as it is (1 on spec 293's subnet 1, 4 on spec 218).
    pub fn subnet_setup(&self, netuid: u16, difficulty: u64) -> Result<()> {
        self.setup_subnet(&Subnet {
            added: Some(true),
            registration_allowed: Some(true),
            pow_registration_allowed: Some(true),
            difficulty: Some(difficulty),
            min_difficulty: Some(difficulty),
            max_difficulty: Some(difficulty),
            registrations_this_interval: Some(0),
            registrations_this_block: Some(0),
            ..Subnet::new(netuid)
        })
    }

    /// A `SubtensorModule` per-subnet value (`StorageMap<Identity, u16, _>`), raw SCALE;
    /// `None` when not stored (the item's default applies).
    pub fn subnet_item(&self, item: &str, netuid: u16) -> Result<Option<Vec<u8>>> {
        self.read_storage(&map_key(
            "SubtensorModule",
            item,
            &[(Hasher::Identity, &netuid.to_le_bytes())],
        ))
    }

    /// A per-subnet u64 item (Difficulty, MinDifficulty, MaxDifficulty, Burn, ...).
    pub fn subnet_u64(&self, item: &str, netuid: u16) -> Result<Option<u64>> {
        Ok(self
            .subnet_item(item, netuid)?
            .and_then(|b| Some(u64::from_le_bytes(b.get(..8)?.try_into().ok()?))))
    }

    /// A per-subnet u16 item (MaxRegistrationsPerBlock, RegistrationsThisInterval, ...).
    pub fn subnet_u16(&self, item: &str, netuid: u16) -> Result<Option<u16>> {
        Ok(self
            .subnet_item(item, netuid)?
            .and_then(|b| Some(u16::from_le_bytes(b.get(..2)?.try_into().ok()?))))
    }

    /// A per-subnet bool item (NetworksAdded, NetworkPowRegistrationAllowed, ...).
    pub fn subnet_bool(&self, item: &str, netuid: u16) -> Result<Option<bool>> {
        Ok(self
            .subnet_item(item, netuid)?
            .and_then(|b| b.first().map(|&x| x != 0)))
    }

    /// `SubtensorModule.Uids(netuid, hotkey)`: the hotkey's uid on the subnet, if registered.
    pub fn uid_of(&self, netuid: u16, hotkey: &[u8; 32]) -> Result<Option<u16>> {
        let key = map_key(
            "SubtensorModule",
            "Uids",
            &[
                (Hasher::Identity, &netuid.to_le_bytes()),
                (Hasher::Blake2_128Concat, hotkey),
            ],
        );
        Ok(self
            .read_storage(&key)?
            .and_then(|b| Some(u16::from_le_bytes(b.get(..2)?.try_into().ok()?))))
    }

    /// `SubtensorModule.Keys(netuid, uid)`: the hotkey holding the uid.
    pub fn hotkey_of(&self, netuid: u16, uid: u16) -> Result<Option<[u8; 32]>> {
        let key = map_key(
            "SubtensorModule",
            "Keys",
            &[
                (Hasher::Identity, &netuid.to_le_bytes()),
                (Hasher::Identity, &uid.to_le_bytes()),
            ],
        );
        Ok(self
            .read_storage(&key)?
            .and_then(|b| b.get(..32)?.try_into().ok()))
    }

    /// Gives `account` a free balance (System.Account, one provider). Not needed for the
    /// legacy `register`: it pays no fee on either runtime, from an empty hotkey account.
    pub fn fund(&self, account: &[u8; 32], free: u128) -> Result<()> {
        self.set_storage(json!({ "System": { "Account": [[
            [format!("0x{}", hex::encode(account))],
            { "providers": 1, "data": { "free": free.to_string() } }
        ]] } }))
    }

    /// The free balance and nonce of `account` (System.Account); `None` if it has none.
    pub fn account(&self, account: &[u8; 32]) -> Result<Option<(u32, u128)>> {
        let key = map_key("System", "Account", &[(Hasher::Blake2_128Concat, account)]);
        Ok(self.read_storage(&key)?.and_then(|b| {
            let nonce = u32::from_le_bytes(b.get(..4)?.try_into().ok()?);
            let free = u128::from_le_bytes(b.get(16..32)?.try_into().ok()?);
            Some((nonce, free))
        }))
    }

    /// Makes `account` the sudo key (needed on spec 218, where no test key is sudo).
    pub fn set_sudo(&self, account: &[u8; 32]) -> Result<()> {
        self.set_storage(json!({ "Sudo": { "Key": format!("0x{}", hex::encode(account)) } }))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Per-subnet `SubtensorModule` settings for [`Node::setup_subnet`]; `None` leaves an item.
#[derive(Clone, Debug, Default)]
pub struct Subnet {
    pub netuid: u16,
    pub added: Option<bool>,
    pub registration_allowed: Option<bool>,
    pub pow_registration_allowed: Option<bool>,
    pub difficulty: Option<u64>,
    pub min_difficulty: Option<u64>,
    pub max_difficulty: Option<u64>,
    pub max_registrations_per_block: Option<u16>,
    pub registrations_this_block: Option<u16>,
    pub registrations_this_interval: Option<u16>,
    pub target_registrations_per_interval: Option<u16>,
    pub adjustment_interval: Option<u16>,
    pub max_allowed_uids: Option<u16>,
}

impl Subnet {
    pub fn new(netuid: u16) -> Subnet {
        Subnet {
            netuid,
            ..Subnet::default()
        }
    }

    /// `(storage item, value)` pairs for `dev_setStorage`.
    pub fn items(&self) -> Vec<(&'static str, Value)> {
        let mut v = Vec::new();
        let mut b = |name, x: Option<bool>| {
            if let Some(x) = x {
                v.push((name, json!(x)));
            }
        };
        b("NetworksAdded", self.added);
        b("NetworkRegistrationAllowed", self.registration_allowed);
        b(
            "NetworkPowRegistrationAllowed",
            self.pow_registration_allowed,
        );
        for (name, x) in [
            ("Difficulty", self.difficulty),
            ("MinDifficulty", self.min_difficulty),
            ("MaxDifficulty", self.max_difficulty),
        ] {
            if let Some(x) = x {
                // As a string: JSON numbers above 2^53 lose precision in chopsticks.
                v.push((name, json!(x.to_string())));
            }
        }
        for (name, x) in [
            ("MaxRegistrationsPerBlock", self.max_registrations_per_block),
            ("RegistrationsThisBlock", self.registrations_this_block),
            (
                "RegistrationsThisInterval",
                self.registrations_this_interval,
            ),
            (
                "TargetRegistrationsPerInterval",
                self.target_registrations_per_interval,
            ),
            ("AdjustmentInterval", self.adjustment_interval),
            ("MaxAllowedUids", self.max_allowed_uids),
        ] {
            if let Some(x) = x {
                v.push((name, json!(x)));
            }
        }
        v
    }
}

/// Storage map hashers used by the items above (from the runtimes' metadata: every
/// per-subnet SubtensorModule map is `Identity` on the u16 netuid; `Uids` is
/// `(Identity, Blake2_128Concat)`, `Keys` `(Identity, Identity)`).
#[derive(Clone, Copy, Debug)]
pub enum Hasher {
    Identity,
    Blake2_128Concat,
    Twox64Concat,
}

/// `twox128(pallet) ++ twox128(item) ++ hashed keys`.
pub fn map_key(pallet: &str, item: &str, keys: &[(Hasher, &[u8])]) -> Vec<u8> {
    let mut k = Vec::with_capacity(64);
    k.extend_from_slice(&sp_crypto_hashing::twox_128(pallet.as_bytes()));
    k.extend_from_slice(&sp_crypto_hashing::twox_128(item.as_bytes()));
    for (hasher, key) in keys {
        match hasher {
            Hasher::Identity => {}
            Hasher::Blake2_128Concat => {
                k.extend_from_slice(&sp_crypto_hashing::blake2_128(key));
            }
            Hasher::Twox64Concat => k.extend_from_slice(&sp_crypto_hashing::twox_64(key)),
        }
        k.extend_from_slice(key);
    }
    k
}

/// Copies the runtime's spec with a whole-minute `Timestamp.Now` in its genesis.
fn write_genesis(runtime: Runtime, to: &Path) -> Result<()> {
    let text = fs::read_to_string(runtime.spec_file())?;
    let mut spec: Value = serde_json::from_str(&text)
        .map_err(|e| Error::Start(format!("{}: {e}", runtime.spec_file().display())))?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let ts = now_ms / 60_000 * 60_000;
    let top = spec
        .pointer_mut("/genesis/raw/top")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| Error::Start("spec has no genesis.raw.top".into()))?;
    top.insert(
        TIMESTAMP_NOW_KEY.to_string(),
        json!(format!("0x{}", hex::encode(ts.to_le_bytes()))),
    );
    fs::write(to, serde_json::to_vec(&spec).expect("json"))?;
    Ok(())
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The port of chopsticks' "RPC listening on http://ADDR:PORT and ws://ADDR:PORT" line.
fn listening_port(log: &str) -> Option<u16> {
    let line = log.lines().find(|l| l.contains("RPC listening on"))?;
    let ws = &line[line.find("ws://")? + 5..];
    let addr = ws.split_whitespace().next()?;
    addr.rsplit(':').next()?.trim_end_matches('/').parse().ok()
}

fn parse_number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => u64::from_str_radix(s.trim_start_matches("0x"), 16).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listening_line() {
        let log = "[21:34:24.734] INFO: bittensor RPC listening on http://127.0.0.1:19944 and ws://127.0.0.1:19944\n";
        assert_eq!(listening_port(log), Some(19944));
        assert_eq!(listening_port("nothing"), None);
    }

    #[test]
    fn storage_keys() {
        // System.BlockHash(0), the key used by fix_genesis_hash.
        let k = map_key(
            "System",
            "BlockHash",
            &[(Hasher::Twox64Concat, &0u32.to_le_bytes())],
        );
        assert_eq!(
            hex::encode(k),
            "26aa394eea5630e07c48ae0c9558cef7a44704b568d21667356a5a050c118746b4def25cfda6ef3a00000000"
        );
        // Timestamp.Now.
        assert_eq!(
            format!("0x{}", hex::encode(map_key("Timestamp", "Now", &[]))),
            TIMESTAMP_NOW_KEY
        );
    }

    #[test]
    fn spec_files_exist() {
        for r in Runtime::ALL {
            assert!(r.spec_file().is_file(), "{}", r.spec_file().display());
        }
    }
}
