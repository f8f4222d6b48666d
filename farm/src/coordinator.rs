//! The coordinator: the process with the chain and the wallet. It announces each job to the
//! farm, leases disjoint index ranges to workers, re-verifies every hit they send and passes
//! on only verified hits of the current job. It runs as one task on the caller's tokio runtime
//! and is driven through [`FarmCoordinator`].

use crate::connect::FarmConnect;
use crate::error::FarmError;
use crate::farm_state::{CoordinatorConfig, FarmEvent, FarmState, VerifiedHit};
use crate::metrics::Metrics;
use crate::protocol::{encode, AnnouncedJob, Announcement, FarmStatus, WireJob, FORMAT_VERSION};
use futures::StreamExt;
use pow_backend_api::Job;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// How often the coordinator's clock ticks (expiry, announcements, status).
const TICK: Duration = Duration::from_millis(100);

/// Longest wait for a flush of the client (see `Task::flush`).
const FLUSH_WAIT: Duration = Duration::from_millis(250);

/// Where farm events go.
pub type FarmLog = Arc<dyn Fn(FarmEvent) + Send + Sync>;

enum Command {
    Set {
        job_id: u64,
        job: Box<Job>,
        difficulty: Option<u64>,
        block_number: Option<u64>,
        base: u64,
    },
    Clear,
}

/// A running coordinator. Dropping it announces "no job" (workers idle) and ends its task.
pub struct FarmCoordinator {
    commands: mpsc::UnboundedSender<Command>,
    hits: mpsc::UnboundedReceiver<VerifiedHit>,
    status: watch::Receiver<FarmStatus>,
    id: String,
}

impl FarmCoordinator {
    /// Connects to the farm and starts the coordinator task; `log` gets every farm event
    /// (and a [`FarmEvent::Status`] every `cfg.status_every`), `metrics` (if any) is kept up
    /// to date, and `local_rate` (f64 bits, attempts per second) is read as the rate of the
    /// caller's own devices.
    pub async fn start(
        connect: &FarmConnect,
        cfg: CoordinatorConfig,
        log: FarmLog,
        metrics: Option<Metrics>,
        local_rate: Arc<AtomicU64>,
    ) -> Result<FarmCoordinator, FarmError> {
        let id = format!("c-{:016x}", rand::random::<u64>());
        let (etx, erx) = mpsc::unbounded_channel();
        let client = connect
            .connect_watched(&format!("pow-host coordinator {id}"), Some(etx))
            .await?;
        let subjects = connect.subjects();
        let nats = |e: async_nats::SubscribeError| FarmError::Nats(e.to_string());
        let leases = client
            .subscribe(subjects.lease.clone())
            .await
            .map_err(nats)?;
        let hits = client.subscribe(subjects.hit.clone()).await.map_err(nats)?;
        let beats = client
            .subscribe(subjects.heartbeat.clone())
            .await
            .map_err(nats)?;
        let asks = client
            .subscribe(subjects.status.clone())
            .await
            .map_err(nats)?;
        let (ctx, crx) = mpsc::unbounded_channel();
        let (htx, hrx) = mpsc::unbounded_channel();
        let now = Instant::now();
        let mut state = FarmState::new(&id, connect.name.as_str(), cfg, now);
        let (stx, srx) = watch::channel(state.status(now));
        let task = Task {
            client,
            job_subject: subjects.job,
            state,
            commands: crx,
            verified: htx,
            status: stx,
            log,
            metrics,
            last_announce: None,
            block_number: None,
            connection: erx,
            connected_before: false,
            local_rate,
        };
        tokio::spawn(task.run(leases, hits, beats, asks));
        Ok(FarmCoordinator {
            commands: ctx,
            hits: hrx,
            status: srx,
            id,
        })
    }

    /// This coordinator's instance id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Announces job `job_id` to the farm at once. Returns where the caller's own devices
    /// should start (the half of the index space never leased, see [`crate::lease`]).
    pub fn set_job(
        &self,
        job_id: u64,
        job: &Job,
        difficulty: Option<u64>,
        block_number: Option<u64>,
    ) -> u64 {
        let base: u64 = rand::random();
        let _ = self.commands.send(Command::Set {
            job_id,
            job: Box::new(job.clone()),
            difficulty,
            block_number,
            base,
        });
        crate::lease::LeaseBook::new(job_id, base).local_start()
    }

    /// Announces that there is nothing to mine (workers idle).
    pub fn clear_job(&self) {
        let _ = self.commands.send(Command::Clear);
    }

    /// The next verified remote hit, as a stream's `poll_next`.
    pub fn poll_hit(&mut self, cx: &mut Context<'_>) -> Poll<Option<VerifiedHit>> {
        self.hits.poll_recv(cx)
    }

    /// The farm as of the latest tick.
    pub fn status(&self) -> FarmStatus {
        self.status.borrow().clone()
    }
}

struct Task {
    client: async_nats::Client,
    job_subject: String,
    state: FarmState,
    commands: mpsc::UnboundedReceiver<Command>,
    verified: mpsc::UnboundedSender<VerifiedHit>,
    status: watch::Sender<FarmStatus>,
    log: FarmLog,
    metrics: Option<Metrics>,
    last_announce: Option<Instant>,
    /// Work block number of the current job, for the announcements.
    block_number: Option<u64>,
    connection: mpsc::UnboundedReceiver<async_nats::Event>,
    /// Whether the client has reported its first connection.
    connected_before: bool,
    local_rate: Arc<AtomicU64>,
}

impl Task {
    async fn run(
        mut self,
        mut leases: async_nats::Subscriber,
        mut hits: async_nats::Subscriber,
        mut beats: async_nats::Subscriber,
        mut asks: async_nats::Subscriber,
    ) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_status = Instant::now();
        let mut last_report = Instant::now();
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Set { job_id, job, difficulty, block_number, base }) => {
                        self.state.set_job(job_id, *job, difficulty, base, Instant::now());
                        self.block_number = block_number;
                        self.announce().await;
                    }
                    Some(Command::Clear) => {
                        self.state.clear_job();
                        self.announce().await;
                    }
                    None => {
                        // The handle was dropped: workers idle.
                        self.state.clear_job();
                        self.announce().await;
                        self.flush().await;
                        return;
                    }
                },
                Some(e) = self.connection.recv() => match e {
                    async_nats::Event::Disconnected => (self.log)(FarmEvent::Disconnected),
                    // The client reports its first connection too; only a later one is news.
                    async_nats::Event::Connected if !self.connected_before => {
                        self.connected_before = true;
                    }
                    async_nats::Event::Connected => {
                        (self.log)(FarmEvent::Reconnected);
                        if self.state.current().is_some() {
                            self.announce().await;
                        }
                    }
                    _ => {}
                },
                Some(m) = leases.next() => {
                    self.state.messages_in += 1;
                    let reply = self.state.on_lease(&m.payload, Instant::now());
                    self.reply(m.reply, encode(&reply)).await;
                }
                Some(m) = hits.next() => {
                    self.state.messages_in += 1;
                    let (ack, verified, event) = self.state.on_hit(&m.payload, Instant::now());
                    if let Some(v) = verified {
                        let _ = self.verified.send(v);
                    }
                    if let Some(e) = event {
                        (self.log)(e);
                    }
                    self.reply(m.reply, encode(&ack)).await;
                }
                Some(m) = beats.next() => {
                    self.state.messages_in += 1;
                    if let Some(e) = self.state.on_heartbeat(&m.payload, Instant::now()) {
                        (self.log)(e);
                    }
                }
                Some(m) = asks.next() => {
                    self.state.messages_in += 1;
                    let status = self.state.status(Instant::now());
                    self.reply(m.reply, encode(&status)).await;
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    for e in self.state.expire(now) {
                        (self.log)(e);
                    }
                    let due = self
                        .last_announce
                        .is_none_or(|t| now.duration_since(t) >= self.state.config().announce_every);
                    if due && self.state.current().is_some() {
                        self.announce().await;
                    }
                    if now.duration_since(last_status) >= Duration::from_millis(500) {
                        last_status = now;
                        self.state
                            .set_local_rate(f64::from_bits(self.local_rate.load(Ordering::Relaxed)));
                        let status = self.state.status(now);
                        let every = self.state.config().status_every;
                        if !every.is_zero() && now.duration_since(last_report) >= every {
                            last_report = now;
                            (self.log)(FarmEvent::Status(Box::new(status.clone())));
                        }
                        if let Some(m) = &self.metrics {
                            m.observe_farm(&status);
                        }
                        let _ = self.status.send(status);
                    }
                }
            }
        }
    }

    /// Publishes the current job (or "no job").
    async fn announce(&mut self) {
        let block_number = self.block_number;
        let job = self
            .state
            .current()
            .map(|(job_id, job, difficulty)| AnnouncedJob {
                job_id,
                job: WireJob::of(job),
                difficulty,
                block_number,
            });
        let a = Announcement {
            version: FORMAT_VERSION,
            coordinator: self.state.id().to_string(),
            job,
        };
        self.last_announce = Some(Instant::now());
        self.state.messages_out += 1;
        let _ = self
            .client
            .publish(self.job_subject.clone(), encode(&a).into())
            .await;
        self.flush().await;
    }

    /// Flushes the client, for at most [`FLUSH_WAIT`]: while the server is away a flush
    /// waits for the reconnection, and the loop must go on reporting the disconnection and
    /// taking the miner's commands.
    async fn flush(&self) {
        let _ = tokio::time::timeout(FLUSH_WAIT, self.client.flush()).await;
    }

    async fn reply(&mut self, to: Option<async_nats::Subject>, payload: Vec<u8>) {
        if let Some(to) = to {
            self.state.messages_out += 1;
            let _ = self.client.publish(to, payload.into()).await;
        }
    }
}
