//! The Prometheus endpoint (`--metrics-addr`) of coordinators and workers: farm-wide and
//! per-device counters and gauges in the text exposition format, served over plain HTTP.

use crate::error::FarmError;
use crate::protocol::{FarmStatus, Heartbeat, WorkerState};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Rate = Gauge<f64, AtomicU64>;
type Labels = Vec<(String, String)>;

/// Metrics of a coordinator or a worker, fed from the same structs that go on the bus.
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    farm_rate: Rate,
    farm_rate_ewma: Rate,
    local_rate: Rate,
    expected_seconds: Rate,
    workers: Family<Labels, Gauge>,
    leases: Gauge,
    leased_indexes: Gauge,
    worker_rate: Family<Labels, Rate>,
    device_rate: Family<Labels, Rate>,
    hits: Family<Labels, Counter>,
    attempts: Counter,
    last: Arc<Mutex<Totals>>,
}

/// Totals already counted, so that counters advance by differences.
#[derive(Default)]
struct Totals {
    hits: [u64; 4],
    attempts: u64,
}

const HIT_KINDS: [&str; 4] = ["accepted", "stale", "rejected", "dropped"];

impl Metrics {
    /// Registers every metric under the `pow_farm` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("pow_farm");
        let m = Metrics {
            registry: Arc::new(Registry::default()),
            farm_rate: Rate::default(),
            farm_rate_ewma: Rate::default(),
            local_rate: Rate::default(),
            expected_seconds: Rate::default(),
            workers: Family::default(),
            leases: Gauge::default(),
            leased_indexes: Gauge::default(),
            worker_rate: Family::default(),
            device_rate: Family::default(),
            hits: Family::default(),
            attempts: Counter::default(),
            last: Arc::default(),
        };
        registry.register(
            "rate",
            "Farm rate, attempts per second (workers and local devices)",
            m.farm_rate.clone(),
        );
        registry.register(
            "rate_ewma",
            "Farm rate averaged, attempts per second",
            m.farm_rate_ewma.clone(),
        );
        registry.register(
            "local_rate",
            "This process's own devices, attempts per second",
            m.local_rate.clone(),
        );
        registry.register(
            "expected_seconds",
            "Expected seconds to a solution at the current difficulty",
            m.expected_seconds.clone(),
        );
        registry.register("workers", "Workers by state", m.workers.clone());
        registry.register("leases", "Leases of the current job", m.leases.clone());
        registry.register(
            "leased_indexes",
            "Indexes leased for the current job",
            m.leased_indexes.clone(),
        );
        registry.register(
            "worker_rate",
            "Rate of each worker, attempts per second",
            m.worker_rate.clone(),
        );
        registry.register(
            "device_rate",
            "Rate of each device, attempts per second",
            m.device_rate.clone(),
        );
        registry.register("hits", "Hits received, by verdict", m.hits.clone());
        registry.register(
            "attempts",
            "Attempts made by this process's devices",
            m.attempts.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            ..m
        }
    }

    /// Updates the coordinator's view from its status.
    pub fn observe_farm(&self, s: &FarmStatus) {
        self.farm_rate.set(s.farm_rate);
        self.farm_rate_ewma.set(s.farm_rate_ewma);
        self.local_rate.set(s.local_rate);
        self.expected_seconds.set(s.expected_seconds.unwrap_or(0.0));
        self.leases.set(s.leases as i64);
        self.leased_indexes
            .set(s.leased_indexes.min(i64::MAX as u64) as i64);
        for state in [
            WorkerState::Active,
            WorkerState::Dropped,
            WorkerState::Quarantined,
        ] {
            let n = s.workers.iter().filter(|w| w.state == state).count();
            self.workers
                .get_or_create(&vec![("state".into(), state_name(state).into())])
                .set(n as i64);
        }
        self.worker_rate.clear();
        self.device_rate.clear();
        for w in &s.workers {
            let rate = if w.state == WorkerState::Active {
                w.rate
            } else {
                0.0
            };
            self.worker_rate
                .get_or_create(&vec![("worker".into(), w.worker.clone())])
                .set(rate);
            for d in &w.devices {
                self.device_rate
                    .get_or_create(&vec![
                        ("worker".into(), w.worker.clone()),
                        ("device".into(), d.label.clone()),
                    ])
                    .set(d.rate);
            }
        }
        let totals = [
            s.hits_accepted,
            s.hits_stale,
            s.hits_rejected,
            s.hits_dropped,
        ];
        let mut last = self.last.lock().unwrap();
        for (i, kind) in HIT_KINDS.iter().enumerate() {
            let c = self
                .hits
                .get_or_create(&vec![("verdict".into(), kind.to_string())]);
            c.inc_by(totals[i].saturating_sub(last.hits[i]));
            last.hits[i] = last.hits[i].max(totals[i]);
        }
    }

    /// Updates a worker's view from the heartbeat it sends.
    pub fn observe_worker(&self, hb: &Heartbeat) {
        self.local_rate.set(hb.rate);
        for d in &hb.devices {
            self.device_rate
                .get_or_create(&vec![
                    ("worker".into(), hb.worker.clone()),
                    ("device".into(), d.label.clone()),
                ])
                .set(d.rate);
        }
        let mut last = self.last.lock().unwrap();
        self.attempts
            .inc_by(hb.attempts_total.saturating_sub(last.attempts));
        last.attempts = last.attempts.max(hb.attempts_total);
    }

    /// The metrics in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String");
        text
    }

    /// Serves [`Metrics::render`] over HTTP at `addr` (any path) until the runtime ends.
    /// Binding happens now, so a bad or busy address is an error here.
    pub fn serve(&self, addr: &str) -> Result<std::net::SocketAddr, FarmError> {
        let fail = |reason: String| FarmError::Metrics {
            addr: addr.to_string(),
            reason,
        };
        let std_listener = std::net::TcpListener::bind(addr).map_err(|e| fail(e.to_string()))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| fail(e.to_string()))?;
        let local = std_listener.local_addr().map_err(|e| fail(e.to_string()))?;
        let listener =
            tokio::net::TcpListener::from_std(std_listener).map_err(|e| fail(e.to_string()))?;
        let metrics = self.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 2048];
                    let _ = tokio::time::timeout(
                        std::time::Duration::from_secs(2),
                        stream.read(&mut request),
                    )
                    .await;
                    let body = metrics.render();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(body.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Ok(local)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn state_name(s: WorkerState) -> &'static str {
    match s {
        WorkerState::Active => "active",
        WorkerState::Dropped => "dropped",
        WorkerState::Quarantined => "quarantined",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{DeviceRate, WorkerStatus};

    #[test]
    fn farm_and_device_figures_show_in_the_text() {
        let m = Metrics::new();
        let status = FarmStatus {
            farm_rate: 1.5e6,
            hits_accepted: 2,
            hits_rejected: 1,
            workers: vec![WorkerStatus {
                worker: "w1".into(),
                host: "h".into(),
                state: WorkerState::Active,
                reason: None,
                devices: vec![DeviceRate {
                    label: "cpu:0".into(),
                    name: "cpu".into(),
                    rate: 1.5e6,
                }],
                rate: 1.5e6,
                leases: 3,
                job_attempts: 10,
                attempts_total: 10,
                uptime_seconds: 1.0,
                last_seen_seconds: 0.1,
            }],
            ..FarmStatus::default()
        };
        m.observe_farm(&status);
        m.observe_farm(&status);
        let text = m.render();
        assert!(text.contains("pow_farm_rate 1500000"), "{text}");
        assert!(
            text.contains(r#"pow_farm_hits_total{verdict="accepted"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"pow_farm_device_rate{worker="w1",device="cpu:0"} 1500000"#),
            "{text}"
        );
        assert!(
            text.contains(r#"pow_farm_workers{state="active"} 1"#),
            "{text}"
        );
    }
}
