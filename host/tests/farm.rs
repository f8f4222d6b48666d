//! The farm on a real `nats-server` (started by the tests on a free loopback port): `pow-host
//! worker` processes with the synthetic backend, coordinators in this process or as
//! `pow-host register/solve --farm`, and rogue clients that speak the protocol badly.

use pow_backend_api::Job;
use pow_farm::protocol::{
    encode, Announcement, HitAck, HitReport, HitVerdict, LeaseReply, LeaseRequest, FORMAT_VERSION,
};
use pow_farm::{CoordinatorConfig, FarmConnect, FarmCoordinator, FarmEvent, Metrics, VerifiedHit};
use pow_seal::{Challenge, Work};
use pow_test_support::NatsServer;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pow-host"))
}

/// A plugin folder holding only the synthetic backend.
fn synthetic_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let lib = pow_test_support::synthetic_library();
    std::fs::copy(&lib, dir.path().join(lib.file_name().unwrap())).unwrap();
    dir
}

/// A `pow-host worker` process; its stderr goes to a file.
struct Worker {
    child: Child,
    log: PathBuf,
}

impl Worker {
    fn start(plugins: &Path, url: &str, farm: &str, id: &str, extra: &[&str]) -> Worker {
        Worker::start_with(plugins, url, farm, id, extra, &[])
    }

    /// `extra` goes before the command (backend options), `own` after it.
    fn start_with(
        plugins: &Path,
        url: &str,
        farm: &str,
        id: &str,
        extra: &[&str],
        own: &[&str],
    ) -> Worker {
        let log = std::env::temp_dir().join(format!(
            "pow-farm-test-{}-{id}-{}.log",
            std::process::id(),
            rand::random::<u32>()
        ));
        let child = Command::new(bin())
            .arg("--plugin-dir")
            .arg(plugins)
            .args(["--backends", "synthetic"])
            .args(extra)
            .args([
                "worker",
                "--farm",
                url,
                "--farm.name",
                farm,
                "--worker-id",
                id,
            ])
            .args(["--calibrate-seconds", "0", "-v"])
            .args(own)
            .env("HOME", std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Worker { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the worker has joined `farm` (a minute: on a loaded 2-core CI machine a
    /// worker process can take long to start); on timeout the panic shows its log.
    fn wait_joined(&self, farm: &str) {
        let needle = format!("joining farm {farm}");
        let end = Instant::now() + Duration::from_secs(60);
        while !self.log().contains(&needle) {
            assert!(
                Instant::now() < end,
                "timed out waiting for the worker to join {farm}; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to end by itself (at most `limit`).
    fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A coordinator in this process, with every event it reports.
struct Coordinator {
    farm: FarmCoordinator,
    events: Arc<Mutex<Vec<FarmEvent>>>,
}

fn start_coordinator(rt: &tokio::runtime::Runtime, url: &str, name: &str) -> Coordinator {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let farm = rt
        .block_on(FarmCoordinator::start(
            &FarmConnect::new(url, name).unwrap(),
            CoordinatorConfig::default(),
            Arc::new(move |e| sink.lock().unwrap().push(e)),
            None,
            Arc::new(AtomicU64::new(0)),
        ))
        .expect("the coordinator connects");
    Coordinator { farm, events }
}

/// A v1 job; with `never` its target is zero, so nothing passes and nothing stops the search.
fn job(block: u8, difficulty: u64, never: bool) -> Job {
    let c = Challenge::v1(1, [block; 32], [2; 32], [3; 32]).unwrap();
    let mut j = Job::from_work(&Work::new(c, difficulty));
    if never {
        j.target = [0; 4];
    }
    j
}

/// Polls `check` every 50 ms until it holds (panics with `what` after `limit`).
fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < end, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// What most farm tests start with: a NATS server, the synthetic plugin, a runtime.
struct Setup {
    nats: NatsServer,
    plugins: tempfile::TempDir,
    rt: tokio::runtime::Runtime,
}

impl Setup {
    /// `None` (the test skips) when `nats-server` is not installed.
    fn start() -> Option<Setup> {
        Some(Setup {
            nats: NatsServer::start()?,
            plugins: synthetic_dir(),
            rt: runtime(),
        })
    }
}

/// One searched range from a synthetic device's record file.
#[derive(Clone, Debug)]
struct Searched {
    worker: String,
    start: u64,
    len: u64,
}

/// The ranges searched per job tag, from `dirs` (one record folder per worker).
fn searched_by_job(dirs: &[(String, PathBuf)]) -> HashMap<String, Vec<Searched>> {
    let mut by_job: HashMap<String, Vec<Searched>> = HashMap::new();
    for (worker, dir) in dirs {
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in text.lines() {
                let f: Vec<&str> = line.split_whitespace().collect();
                let (start, searched): (u64, u64) = (f[1].parse().unwrap(), f[2].parse().unwrap());
                if searched > 0 {
                    by_job.entry(f[0].to_string()).or_default().push(Searched {
                        worker: worker.clone(),
                        start,
                        len: searched,
                    });
                }
            }
        }
    }
    by_job
}

#[test]
fn workers_search_disjoint_leases_through_kills_late_joins_and_switches() {
    let Some(Setup { nats, plugins, rt }) = Setup::start() else {
        return;
    };
    let records = tempfile::tempdir().unwrap();
    let c = start_coordinator(&rt, &nats.url(), "disjoint");
    let record_dir = |i: usize| {
        let d = records.path().join(format!("w{i}"));
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let worker = |i: usize| {
        let rec = format!("synthetic.record={}", record_dir(i).display());
        Worker::start(
            plugins.path(),
            &nats.url(),
            "disjoint",
            &format!("w{i}"),
            &[
                "--backend-opt",
                "synthetic.rate=40000",
                "--backend-opt",
                &rec,
            ],
        )
    };
    let mut workers: Vec<Worker> = (0..3).map(worker).collect();
    let job_a = job(1, 1, true);
    c.farm.set_job(1, &job_a, None, None);
    wait_until(Duration::from_secs(20), "three workers leasing", || {
        let s = c.farm.status();
        s.workers.iter().filter(|w| w.leases > 0).count() == 3
    });
    std::thread::sleep(Duration::from_millis(800));
    // Worker 0 dies mid-job; worker 3 joins late.
    workers[0].kill();
    workers.push(worker(3));
    wait_until(Duration::from_secs(20), "the late worker leasing", || {
        c.farm
            .status()
            .workers
            .iter()
            .any(|w| w.worker == "w3" && w.leases > 0)
    });
    std::thread::sleep(Duration::from_millis(800));
    // A new block: everyone alive switches.
    let job_b = job(2, 1, true);
    c.farm.set_job(2, &job_b, None, None);
    wait_until(
        Duration::from_secs(20),
        "three workers leasing job 2",
        || {
            let s = c.farm.status();
            s.job_id == Some(2) && s.workers.iter().filter(|w| w.leases > 0).count() == 3
        },
    );
    wait_until(Duration::from_secs(10), "worker 0 dropped", || {
        c.events
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, FarmEvent::WorkerDropped { worker, .. } if worker == "w0"))
    });
    std::thread::sleep(Duration::from_millis(800));
    c.farm.clear_job();
    wait_until(Duration::from_secs(10), "workers idle", || {
        workers[1..]
            .iter()
            .all(|w| w.log().contains("idle: the coordinator has no job"))
    });
    for w in &mut workers {
        w.kill();
    }

    let dirs: Vec<(String, PathBuf)> = (0..4).map(|i| (format!("w{i}"), record_dir(i))).collect();
    let by_job = searched_by_job(&dirs);
    let tag_a = pow_synthetic::job_tag(&job_a);
    let tag_b = pow_synthetic::job_tag(&job_b);
    assert_eq!(
        by_job.len(),
        2,
        "only the two jobs were searched: {:?}",
        by_job.keys()
    );
    for (tag, expected) in [
        (&tag_a, ["w0", "w1", "w2", "w3"].as_slice()),
        (&tag_b, &["w1", "w2", "w3"]),
    ] {
        let mut ranges = by_job[tag].clone();
        for w in expected {
            assert!(
                ranges.iter().any(|r| r.worker == *w),
                "{w} searched nothing of job {tag}"
            );
        }
        // No index searched twice, by the same worker or two of them.
        ranges.sort_by_key(|r| r.start);
        for pair in ranges.windows(2) {
            assert!(
                pair[0].start.wrapping_add(pair[0].len) <= pair[1].start,
                "overlap in job {tag}: {:?} and {:?}",
                pair[0],
                pair[1]
            );
        }
    }
}

/// The secrets of the fixture wallet (wallet/tests/data): the coldkey password, both
/// mnemonics, the hotkey's seed and private key, and a piece of the encrypted coldkey file.
fn fixture_secrets() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../wallet/tests/data/bittensor_wallet_4.1.1/fixture");
    let hot: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("hotkeys/default")).unwrap()).unwrap();
    let mut secrets = vec![
        "correct horse battery staple".to_string(),
        "bottom drive obey lake curtain smoke basket hold race lonely fit walk".to_string(),
        hot["secretPhrase"].as_str().unwrap().to_string(),
    ];
    for key in ["secretSeed", "privateKey"] {
        let hex = hot[key]
            .as_str()
            .unwrap()
            .trim_start_matches("0x")
            .to_string();
        secrets.push(hex[..32].to_string());
        secrets.push(hex[hex.len() - 32..].to_string());
    }
    let cold = std::fs::read(dir.join("coldkey")).unwrap();
    secrets.push(String::from_utf8_lossy(&cold[cold.len() / 2..cold.len() / 2 + 24]).into_owned());
    secrets
}

#[test]
fn register_on_the_dev_chain_with_two_workers_and_no_secret_on_the_bus() {
    let Some(Setup { nats, plugins, rt }) = Setup::start() else {
        return;
    };
    // A spy on every subject, replies included.
    let seen: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let spy_ready = Arc::new(AtomicBool::new(false));
    {
        let (seen, ready, url) = (seen.clone(), spy_ready.clone(), nats.url());
        rt.spawn(async move {
            use futures::StreamExt;
            let client = async_nats::connect(url).await.unwrap();
            let mut all = client.subscribe(">").await.unwrap();
            client.flush().await.unwrap();
            ready.store(true, std::sync::atomic::Ordering::SeqCst);
            while let Some(m) = all.next().await {
                let mut rec = m.subject.as_bytes().to_vec();
                rec.push(b' ');
                rec.extend_from_slice(&m.payload);
                seen.lock().unwrap().push(rec);
            }
        });
    }
    wait_until(Duration::from_secs(10), "the spy", || {
        spy_ready.load(std::sync::atomic::Ordering::SeqCst)
    });
    let rate = ["--backend-opt", "synthetic.rate=300000"];
    let _w1 = Worker::start(plugins.path(), &nats.url(), "e2e", "w1", &rate);
    let _w2 = Worker::start(plugins.path(), &nats.url(), "e2e", "w2", &rate);
    let wallets = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../wallet/tests/data/bittensor_wallet_4.1.1");
    let out = Command::new(bin())
        .args(["--backends", "cpu", "--threads", "1"])
        .args(["register", "--netuid", "1", "--subtensor.network", "dev"])
        .args(["--dev-block-time-ms", "300", "--dev-difficulty", "100000"])
        .args(["--timeout", "120", "--json"])
        .arg("--wallet.path")
        .arg(&wallets)
        .args(["--wallet.name", "fixture", "--wallet.hotkey", "default"])
        .args(["--farm", &nats.url(), "--farm.name", "e2e", "--farm.only"])
        .env("POW_HOST_COLDKEY_PASSWORD", "correct horse battery staple")
        .env("HOME", std::env::temp_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["status"], "registered", "{j}");
    // Mined by the workers: the coordinator opened no device of its own.
    assert!(!stderr.contains("mining on cpu"), "{stderr}");
    assert!(
        stderr.contains("found by w1/synthetic:0") || stderr.contains("found by w2/synthetic:0"),
        "{stderr}"
    );
    // The faucet through the same farm (its difficulty is fixed at 1,000,000).
    let out = Command::new(bin())
        .args(["--backends", "cpu", "--threads", "1"])
        .args([
            "faucet",
            "--subtensor.network",
            "dev",
            "--dev-block-time-ms",
            "300",
        ])
        .args(["--timeout", "120", "--json"])
        .args(["--farm", &nats.url(), "--farm.name", "e2e", "--farm.only"])
        .env("HOME", std::env::temp_dir())
        .output()
        .unwrap();
    let faucet_err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{faucet_err}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["status"], "funded", "{j}");
    assert!(faucet_err.contains("found by w"), "{faucet_err}");
    assert!(stderr.contains("\"event\":\"hit_accepted\""), "{stderr}");
    std::thread::sleep(Duration::from_millis(200));
    let bus = seen.lock().unwrap().clone();
    assert!(bus.len() > 10, "the spy saw {} messages", bus.len());
    let kinds = [
        "pow-host.e2e.job",
        "pow-host.e2e.lease",
        "pow-host.e2e.hit",
        "pow-host.e2e.heartbeat",
    ];
    for k in kinds {
        assert!(
            bus.iter().any(|m| m.starts_with(k.as_bytes())),
            "no message on {k}"
        );
    }
    let text = bus
        .iter()
        .map(|m| String::from_utf8_lossy(m).to_lowercase())
        .collect::<Vec<_>>()
        .join("\n");
    for secret in fixture_secrets() {
        assert!(
            !text.contains(&secret.to_lowercase()),
            "a wallet secret went over the bus: {secret}"
        );
    }
}

/// A rogue client that speaks the protocol.
async fn request<T: serde::de::DeserializeOwned>(
    client: &async_nats::Client,
    subject: &str,
    body: Vec<u8>,
) -> T {
    let m = client
        .request(subject.to_string(), body.into())
        .await
        .unwrap();
    serde_json::from_slice(&m.payload).unwrap()
}

fn next_hit(
    rt: &tokio::runtime::Runtime,
    c: &mut Coordinator,
    wait: Duration,
) -> Option<VerifiedHit> {
    rt.block_on(async {
        tokio::time::timeout(wait, std::future::poll_fn(|cx| c.farm.poll_hit(cx)))
            .await
            .ok()
            .flatten()
    })
}

#[test]
fn forged_hits_quarantine_their_sender_and_floods_are_cut() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let rt = runtime();
    let mut c = start_coordinator(&rt, &nats.url(), "rogue");
    let j = job(7, 2, false);
    c.farm.set_job(5, &j, Some(2), None);
    let never = AtomicBool::new(false);
    let good = j.reference_search(0, 1 << 16, &never).hits[0];
    let coordinator_id = c.farm.id().to_string();
    let hit = |worker: &str, job_id: u64, seal: [u8; 32]| {
        encode(&HitReport {
            version: FORMAT_VERSION,
            worker: worker.into(),
            coordinator: coordinator_id.clone(),
            job_id,
            index: good.index,
            nonce: good.nonce,
            seal: pow_seal::to_hex(&seal),
            device: "x:0".into(),
        })
    };
    let client = rt.block_on(async_nats::connect(nats.url())).unwrap();
    let subject = "pow-host.rogue.hit";
    // A forged seal: rejected, the sender quarantined, nothing passed on.
    let mut forged = good.seal;
    forged[31] ^= 0x80;
    let ack: HitAck = rt.block_on(request(&client, subject, hit("liar", 5, forged)));
    assert_eq!(ack.verdict, HitVerdict::Rejected);
    assert!(next_hit(&rt, &mut c, Duration::from_millis(300)).is_none());
    // Even a true hit of the quarantined sender is dropped, and it gets no lease.
    let ack: HitAck = rt.block_on(request(&client, subject, hit("liar", 5, good.seal)));
    assert_eq!(ack.verdict, HitVerdict::Dropped);
    let lease = encode(&LeaseRequest {
        version: FORMAT_VERSION,
        worker: "liar".into(),
        coordinator: c.farm.id().to_string(),
        job_id: 5,
        want: 100,
    });
    let reply: LeaseReply = rt.block_on(request(&client, "pow-host.rogue.lease", lease));
    assert!(
        matches!(reply, LeaseReply::Refused { ref reason } if reason.contains("quarantined")),
        "{reply:?}"
    );
    assert!(next_hit(&rt, &mut c, Duration::from_millis(300)).is_none());
    // A flood of stale hits: the burst is read, the rest dropped unread.
    let mut verdicts = Vec::new();
    for _ in 0..40 {
        let ack: HitAck = rt.block_on(request(&client, subject, hit("noisy", 4, good.seal)));
        verdicts.push(ack.verdict);
    }
    let dropped = verdicts
        .iter()
        .filter(|v| **v == HitVerdict::Dropped)
        .count();
    assert!(dropped >= 25, "{verdicts:?}");
    assert!(
        verdicts[..5].iter().all(|v| *v == HitVerdict::Stale),
        "{verdicts:?}"
    );
    // An honest worker's true hit is verified and passed on once.
    let ack: HitAck = rt.block_on(request(&client, subject, hit("honest", 5, good.seal)));
    assert_eq!(ack.verdict, HitVerdict::Accepted);
    let v = next_hit(&rt, &mut c, Duration::from_secs(2)).expect("the verified hit");
    assert_eq!((v.job_id, v.hit), (5, good));
    assert_eq!(v.found_by, "honest/x:0");
    let events = c.events.lock().unwrap().clone();
    assert!(events
        .iter()
        .any(|e| matches!(e, FarmEvent::Quarantined { worker, .. } if worker == "liar")));
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, FarmEvent::Flooding { .. }))
            .count(),
        1,
        "{events:?}"
    );
    let s = c.farm.status();
    assert!(s
        .workers
        .iter()
        .any(|w| w.worker == "liar" && w.state == pow_farm::protocol::WorkerState::Quarantined));
}

#[test]
fn workers_ride_out_a_nats_restart_and_follow_a_new_coordinator() {
    let Some(mut nats) = NatsServer::start() else {
        return;
    };
    let plugins = synthetic_dir();
    let rate = ["--backend-opt", "synthetic.rate=30000"];
    let _w1 = Worker::start(plugins.path(), &nats.url(), "restart", "w1", &rate);
    let _w2 = Worker::start(plugins.path(), &nats.url(), "restart", "w2", &rate);
    // Coordinator A on a runtime of its own, so that it can die without a word.
    let rt_a = runtime();
    let a = start_coordinator(&rt_a, &nats.url(), "restart");
    a.farm.set_job(1, &job(1, 1, true), None, None);
    let leasing = |c: &Coordinator| {
        c.farm
            .status()
            .workers
            .iter()
            .filter(|w| w.leases > 0)
            .count()
    };
    wait_until(Duration::from_secs(20), "two workers leasing", || {
        leasing(&a) == 2
    });
    // The server restarts: clients reconnect, the job is announced again, leasing goes on.
    let before = a.farm.status().leases;
    nats.restart();
    wait_until(Duration::from_secs(20), "leases after the restart", || {
        a.farm.status().leases > before + 2
    });
    assert!(a.events.lock().unwrap().contains(&FarmEvent::Reconnected));
    // Coordinator A dies without announcing anything: workers go idle.
    let a_id = a.farm.id().to_string();
    std::mem::forget(a.farm);
    rt_a.shutdown_background();
    wait_until(Duration::from_secs(20), "workers idle", || {
        _w1.log().contains("idle: no word from the coordinator")
            && _w2.log().contains("idle: no word from the coordinator")
    });
    // Coordinator B: the workers follow it.
    let rt_b = runtime();
    let b = start_coordinator(&rt_b, &nats.url(), "restart");
    assert_ne!(b.farm.id(), a_id);
    b.farm.set_job(1, &job(3, 1, true), None, None);
    wait_until(
        Duration::from_secs(20),
        "both workers leasing from B",
        || leasing(&b) == 2,
    );
}

/// Runs pow-host (no plugins needed) and returns its output, killing it after `limit`.
fn run_limited(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .env("HOME", std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let end = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            panic!("pow-host {args:?} did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn one_line_error(out: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "more than one line: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_farm_input_gets_one_clear_line() {
    let limit = Duration::from_secs(20);
    let no_plugins = ["--backends", "cpu", "--threads", "1"];
    let with = |rest: &[&str]| -> Vec<String> {
        no_plugins
            .iter()
            .chain(rest)
            .map(|s| s.to_string())
            .collect()
    };
    let run = |rest: &[&str]| {
        let args = with(rest);
        run_limited(&args.iter().map(String::as_str).collect::<Vec<_>>(), limit)
    };
    one_line_error(
        &run(&["worker", "--farm", "http://127.0.0.1:4222"]),
        2,
        "not a NATS URL",
    );
    one_line_error(&run(&["worker"]), 2, "worker needs --farm");
    one_line_error(
        &run(&[
            "worker",
            "--farm",
            "nats://127.0.0.1:1",
            "--farm.creds",
            "/no/such.creds",
        ]),
        2,
        "--farm.creds /no/such.creds",
    );
    one_line_error(
        &run(&[
            "worker",
            "--farm",
            "nats://127.0.0.1:1",
            "--farm.tls-ca",
            "/no/such.pem",
        ]),
        2,
        "--farm.tls-ca /no/such.pem",
    );
    // With --json the error is also one JSON object on stdout.
    let out = run(&["worker", "--farm", "http://127.0.0.1:4222", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (j["status"].as_str(), j["exit_code"].as_i64()),
        (Some("error"), Some(2)),
        "{j}"
    );
    assert!(
        j["error"].as_str().unwrap().contains("not a NATS URL"),
        "{j}"
    );
    let free = pow_test_support::nats::free_port();
    let unreachable = format!("nats://127.0.0.1:{free}");
    one_line_error(
        &run(&["worker", "--farm", &unreachable]),
        1,
        "cannot reach the NATS server",
    );
    one_line_error(
        &run(&["worker", "--farm", &unreachable, "--farm.name", "a.b"]),
        2,
        "--farm.name",
    );
    one_line_error(
        &run(&["solve", "--sample", "--farm.only"]),
        2,
        "--farm.only needs --farm",
    );
    one_line_error(
        &run(&["farm", "status", "--farm", "nats://u:pw@127.0.0.1:notaport"]),
        2,
        "not a NATS URL",
    );
    let Some(nats) = NatsServer::start_with_config(MINIMAL_CONFIG) else {
        return;
    };
    let wrong = format!("nats://worker:not-the-password@127.0.0.1:{}", nats.port());
    let out = run(&["worker", "--farm", &wrong]);
    one_line_error(&out, 2, "refused the credentials");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("not-the-password"));
    let coordinator = format!(
        "nats://coordinator:coordinator-secret@127.0.0.1:{}",
        nats.port()
    );
    one_line_error(
        &run(&["farm", "status", "--farm", &coordinator, "--wait", "1"]),
        1,
        "no coordinator answered",
    );
    one_line_error(
        &run(&[
            "solve",
            "--sample",
            "--farm",
            &coordinator,
            "--metrics-addr",
            "nonsense",
        ]),
        2,
        "--metrics-addr nonsense",
    );
}

/// The minimal NATS configuration of docs/farm.md: the coordinator's user may do everything
/// under `pow-host.>`, a worker may only listen to jobs, ask for leases, report hits and
/// heartbeats, and receive replies.
const MINIMAL_CONFIG: &str = r#"
authorization {
  users = [
    { user: coordinator, password: coordinator-secret,
      permissions: { publish: ["pow-host.>", "_INBOX.>"], subscribe: ["pow-host.>", "_INBOX.>"] } }
    { user: worker, password: worker-secret,
      permissions: {
        publish: ["pow-host.*.lease", "pow-host.*.hit", "pow-host.*.heartbeat"],
        subscribe: ["pow-host.*.job", "_INBOX.>"] } }
  ]
}
"#;

#[test]
fn a_publish_restricted_worker_solves_with_the_minimal_config_and_metrics_show_it() {
    let Some(nats) = NatsServer::start_with_config(MINIMAL_CONFIG) else {
        return;
    };
    let plugins = synthetic_dir();
    let worker_url = format!("nats://worker:worker-secret@127.0.0.1:{}", nats.port());
    let coordinator_url = format!(
        "nats://coordinator:coordinator-secret@127.0.0.1:{}",
        nats.port()
    );
    let w = Worker::start(
        plugins.path(),
        &worker_url,
        "secure",
        "w1",
        &["--backend-opt", "synthetic.rate=100000"],
    );
    w.wait_joined("secure");
    let out = run_limited(
        &[
            "solve",
            "--sample",
            "--difficulty",
            "100000",
            "--farm",
            &coordinator_url,
            "--farm.name",
            "secure",
            "--farm.only",
            "--json",
            "--metrics-addr",
            "127.0.0.1:0",
        ],
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["device"], "w1/synthetic:0", "{j}");
    // Verified again here, by the reference library.
    let work = Work::new(
        Challenge::v1(
            1,
            pow_seal::parse_bytes32(
                "0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            )
            .unwrap(),
            pow_host::keys::parse_public_key("5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty")
                .unwrap(),
            pow_host::keys::parse_public_key("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY")
                .unwrap(),
        )
        .unwrap(),
        100_000,
    );
    assert!(work.verify(j["nonce"].as_u64().unwrap()).is_some());
    assert!(stderr.contains("metrics at http://127.0.0.1:"), "{stderr}");
}

#[test]
fn metrics_and_farm_status_show_workers_and_devices() {
    let Some(Setup { nats, plugins, rt }) = Setup::start() else {
        return;
    };
    let metrics = Metrics::new();
    let addr = rt.block_on(async { metrics.serve("127.0.0.1:0") }).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let farm = rt
        .block_on(FarmCoordinator::start(
            &FarmConnect::new(&nats.url(), "seen").unwrap(),
            CoordinatorConfig::default(),
            Arc::new(move |e| sink.lock().unwrap().push(e)),
            Some(metrics),
            Arc::new(AtomicU64::new(0)),
        ))
        .unwrap();
    let _w = Worker::start(
        plugins.path(),
        &nats.url(),
        "seen",
        "w1",
        &[
            "--backend-opt",
            "synthetic.devices=2",
            "--backend-opt",
            "synthetic.rate=20000",
        ],
    );
    farm.set_job(1, &job(1, 1_000_000, true), Some(1_000_000), None);
    wait_until(Duration::from_secs(20), "a rate from the worker", || {
        farm.status().farm_rate > 0.0
    });
    std::thread::sleep(Duration::from_millis(700));
    let page = http_get(&addr.to_string());
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    for needle in [
        "pow_farm_rate ",
        r#"pow_farm_workers{state="active"} 1"#,
        r#"pow_farm_device_rate{worker="w1",device="synthetic:0"}"#,
        r#"pow_farm_device_rate{worker="w1",device="synthetic:1"}"#,
        "pow_farm_expected_seconds",
        "pow_farm_leases",
    ] {
        assert!(page.contains(needle), "{needle} not in:\n{page}");
    }
    let status = |extra: &[&str]| {
        let url = nats.url();
        let mut args = vec!["farm", "status", "--farm", &url, "--farm.name", "seen"];
        args.extend_from_slice(extra);
        run_limited(&args, Duration::from_secs(20))
    };
    let out = status(&["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: pow_farm::FarmStatus = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s.job_id, Some(1));
    assert_eq!(s.workers.len(), 1);
    assert_eq!(s.workers[0].devices.len(), 2);
    assert!(s.expected_seconds.is_some());
    let out = status(&[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("w1") && text.contains("synthetic:1"),
        "{text}"
    );
}

/// The reply to `GET /metrics` at `addr`, headers included.
fn http_get(addr: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut page = String::new();
    stream.read_to_string(&mut page).unwrap();
    page
}

#[test]
fn a_worker_of_another_job_format_is_refused_naming_both_versions() {
    let Some(Setup { nats, plugins, rt }) = Setup::start() else {
        return;
    };
    let client = rt.block_on(async_nats::connect(nats.url())).unwrap();
    let mut w = Worker::start(plugins.path(), &nats.url(), "versions", "w1", &[]);
    w.wait_joined("versions");
    // A coordinator of job format 999 announces.
    let mut announcement = serde_json::to_value(Announcement {
        version: FORMAT_VERSION,
        coordinator: "future".into(),
        job: None,
    })
    .unwrap();
    announcement["version"] = 999.into();
    let end = Instant::now() + Duration::from_secs(20);
    let code = loop {
        rt.block_on(async {
            client
                .publish("pow-host.versions.job", announcement.to_string().into())
                .await
                .unwrap();
            client.flush().await.unwrap();
        });
        if let Some(code) = w.wait_exit(Duration::from_millis(300)) {
            break code;
        }
        assert!(
            Instant::now() < end,
            "the worker did not refuse the job format"
        );
    };
    assert_eq!(code, 2, "{}", w.log());
    let log = w.log();
    let last = log.trim().lines().last().unwrap_or_default();
    assert!(
        last.contains("v999") && last.contains(&format!("v{FORMAT_VERSION}")),
        "{log}"
    );
}

#[test]
fn local_mining_goes_on_through_a_nats_outage_longer_than_a_block() {
    // A proof found before the client saw the server go (a lucky nonce in the first few
    // hundred milliseconds: about one run in ten at 15 M/s) did not exercise the outage, so
    // such a run is repeated; three in a row is about one in a thousand.
    for _ in 0..3 {
        match outage_run() {
            Some(Outage::Exercised) => return,
            Some(Outage::FoundFirst) => continue,
            None => return,
        }
    }
    panic!("three runs found their proof before the NATS server was seen to go");
}

/// How a run of [`outage_run`] went.
enum Outage {
    /// The server went away while mining, and the run registered.
    Exercised,
    /// The run registered before the client noticed the server was gone.
    FoundFirst,
}

/// Registers on the dev chain with a farm whose NATS server is stopped as soon as the
/// coordinator is up; `None` without a nats-server.
fn outage_run() -> Option<Outage> {
    let mut nats = NatsServer::start()?;
    // Difficulty 10^8 on one thread: seconds of mining (new blocks every 300 ms), so the
    // server is gone long before a proof is found.
    let mut child = Command::new(bin())
        .args(["--backends", "cpu", "--threads", "1"])
        .args(["register", "--netuid", "1", "--subtensor.network", "dev"])
        .args([
            "--dev-block-time-ms",
            "300",
            "--dev-difficulty",
            "100000000",
        ])
        .args(["--timeout", "120", "--json", "--calibrate-seconds", "0"])
        .args(["--farm", &nats.url(), "--farm.name", "outage"])
        .env("HOME", std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read stderr as it comes; kill the server once the coordinator is up.
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut all = Vec::new();
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            let _ = tx.send(String::from_utf8_lossy(&all).into_owned());
        }
    });
    let mut text = String::new();
    let end = Instant::now() + Duration::from_secs(30);
    while !text.contains("coordinator c-") {
        text = rx
            .recv_timeout(end - Instant::now())
            .expect("the coordinator starts");
    }
    nats.stop();
    let out = child.wait_with_output().unwrap();
    while let Ok(t) = rx.recv_timeout(Duration::from_millis(500)) {
        text = t;
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {text}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["status"], "registered", "{j}");
    assert!(text.contains("found by cpu:"), "{text}");
    Some(if text.contains("\"event\":\"disconnected\"") {
        Outage::Exercised
    } else {
        Outage::FoundFirst
    })
}
