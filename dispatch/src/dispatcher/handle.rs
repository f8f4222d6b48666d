//! The caller's side: [`Dispatcher`], which owns the threads, and [`WorkHandle`], the
//! cloneable part that sets and clears work from any thread.

use super::coordinator;
use super::protocol::{Cmd, DeviceSetup, Msg};
use crate::config::Config;
use crate::device::{DeviceId, DeviceMeta, DispatchDevice};
use crate::error::DispatchError;
use crate::events::{Event, FinalReport, Measurement};
use crate::job::{JobId, WorkSpec};
use crate::stats::Stats;
use pow_backend_api::Job;
use std::ops::Deref;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Runs jobs on a set of devices. See the crate documentation.
///
/// Work is set and cleared through the [`WorkHandle`] it dereferences to
/// ([`WorkHandle::set_work`], [`WorkHandle::clear_work`], [`WorkHandle::current_job`],
/// [`WorkHandle::is_current`], [`WorkHandle::stats`]), so `dispatcher.set_work(spec)` works.
pub struct Dispatcher {
    work: WorkHandle,
    events: Receiver<Event>,
    metas: Vec<DeviceMeta>,
    coordinator: Option<JoinHandle<()>>,
    config: Config,
}

impl Dispatcher {
    /// Starts a dispatcher over `devices`; events arrive on [`Dispatcher::events`].
    pub fn new(
        devices: Vec<Box<dyn DispatchDevice>>,
        config: Config,
    ) -> Result<Dispatcher, DispatchError> {
        let (etx, erx) = channel();
        let mut d = Self::with_sink(devices, config, move |e| {
            let _ = etx.send(e);
        })?;
        d.events = erx;
        Ok(d)
    }

    /// Starts a dispatcher that hands every event to `sink` (called on the coordinator
    /// thread: it must not block). [`Dispatcher::events`] then yields nothing.
    pub fn with_sink(
        devices: Vec<Box<dyn DispatchDevice>>,
        config: Config,
        sink: impl FnMut(Event) + Send + 'static,
    ) -> Result<Dispatcher, DispatchError> {
        if devices.is_empty() {
            return Err(DispatchError::NoDevices);
        }
        let (tx, metas, handle) = coordinator::start(devices, &config, Box::new(sink));
        let (_, dead) = channel();
        Ok(Dispatcher {
            work: WorkHandle {
                tx,
                current: Arc::new(Mutex::new(None)),
            },
            events: dead,
            metas,
            coordinator: Some(handle),
            config,
        })
    }

    /// A cloneable handle for other threads (for example a block watcher that calls
    /// [`WorkHandle::set_work`] while this thread reads events).
    pub fn handle(&self) -> WorkHandle {
        self.work.clone()
    }

    /// The devices, indexed by [`DeviceId`].
    pub fn devices(&self) -> &[DeviceMeta] {
        &self.metas
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Events: solutions, dropped devices, switches, statistics.
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// Runs `devices` together on `job` for about `duration` (plus the time to cancel) and
    /// measures each one. The dispatcher must be idle. Used by [`crate::calibrate()`].
    pub fn measure(
        &self,
        job: &Job,
        devices: &[DeviceId],
        duration: Duration,
    ) -> Result<Measurement, DispatchError> {
        let (reply, rx) = channel();
        self.work.send(Cmd::Measure {
            job: Box::new(job.clone()),
            devices: devices.to_vec(),
            duration,
            reply,
        });
        rx.recv().map_err(|_| DispatchError::Stopped)?
    }

    /// Applies a calibration plan's device setups.
    pub(crate) fn configure(&self, list: Vec<(DeviceId, DeviceSetup)>) {
        self.work.send(Cmd::Configure(list));
    }

    /// Cancels everything, waits (up to the stop grace) for in-flight batches and ends the
    /// driver threads (a hung one is left detached).
    pub fn stop(mut self) -> FinalReport {
        self.stop_inner().unwrap_or_else(|| FinalReport {
            stats: Stats {
                job_id: None,
                block_number: None,
                difficulty: None,
                time_spent: Duration::ZERO,
                time_spent_total: Duration::ZERO,
                rounds: 0,
                rounds_total: 0,
                attempts: 0,
                attempts_total: 0,
                hash_rate: 0.0,
                hash_rate_perpetual: 0.0,
                devices: Vec::new(),
            },
            account: None,
        })
    }

    fn stop_inner(&mut self) -> Option<FinalReport> {
        let handle = self.coordinator.take()?;
        let (reply, rx) = channel();
        self.work.send(Cmd::Stop(reply));
        let report = rx.recv().ok();
        let _ = handle.join();
        report
    }
}

impl Deref for Dispatcher {
    type Target = WorkHandle;

    /// The dispatcher's own [`WorkHandle`].
    fn deref(&self) -> &WorkHandle {
        &self.work
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

/// Sets and clears work from any thread; get one from [`Dispatcher::handle`] (a
/// [`Dispatcher`] dereferences to its own). Does nothing once the dispatcher has stopped.
#[derive(Clone)]
pub struct WorkHandle {
    tx: Sender<Msg>,
    current: Arc<Mutex<Option<JobId>>>,
}

impl WorkHandle {
    fn send(&self, c: Cmd) {
        let _ = self.tx.send(Msg::Cmd(c));
    }

    /// Switches to new work: in-flight batches are cancelled, the index space restarts at
    /// `spec.start_index`, and every device gets batches of the new job as soon as it returns.
    /// Returns at once; [`Event::Switched`] follows when the old batches are all back.
    pub fn set_work(&self, spec: WorkSpec) {
        *self.current.lock().unwrap() = Some(spec.job_id);
        self.send(Cmd::SetWork(Box::new(spec)));
    }

    /// Stops working (cancels in-flight batches) and waits idle for the next
    /// [`WorkHandle::set_work`].
    pub fn clear_work(&self) {
        *self.current.lock().unwrap() = None;
        self.send(Cmd::ClearWork);
    }

    /// Adds range `(start, len)` to leased work `job_id` (see [`WorkSpec::leased`]); ignored
    /// when other work is current.
    pub fn grant(&self, job_id: JobId, start: u64, len: u64) {
        self.send(Cmd::Grant { job_id, start, len });
    }

    /// For leased work that is not solved: its id and how many granted indexes are not handed
    /// out yet (the cue to ask for the next lease). `None` for open work, no work, or a
    /// stopped dispatcher.
    pub fn unissued(&self) -> Option<(JobId, u64)> {
        let (reply, rx) = channel();
        self.send(Cmd::Unissued(reply));
        rx.recv().ok().flatten()
    }

    /// The job last set, if any; solutions for any other job are stale.
    pub fn current_job(&self) -> Option<JobId> {
        *self.current.lock().unwrap()
    }

    /// Whether `job_id` is the job last set (a solution for it may be submitted).
    pub fn is_current(&self, job_id: JobId) -> bool {
        self.current_job() == Some(job_id)
    }

    /// A statistics snapshot now (`None` once the dispatcher has stopped).
    pub fn stats(&self) -> Option<Stats> {
        let (reply, rx) = channel();
        self.send(Cmd::Stats(reply));
        rx.recv().ok()
    }
}
