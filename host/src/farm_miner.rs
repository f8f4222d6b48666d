//! The coordinator's miner: this machine's devices (unless `--farm.only`) and, with `--farm`,
//! the farm's workers, behind one [`Miner`]. Each job is announced to the farm as this
//! machine's devices switch to it; the local devices search the half of the index space that
//! is never leased. A remote hit arrives here only after the coordinator re-verified it, and
//! the flow verifies every solution again where it enters.

use crate::device_miner::DispatchMiner;
use pow_backend_api::Job;
use pow_chain::flow::{MinedSolution, Miner};
use pow_farm::FarmCoordinator;
use pow_seal::Work;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Local devices and an optional farm, mining the same jobs.
pub struct HostMiner {
    local: Option<DispatchMiner>,
    farm: Option<FarmCoordinator>,
    /// The local rate (f64 bits), shared with the coordinator.
    local_rate: Arc<AtomicU64>,
}

impl HostMiner {
    /// Mines on `local` (if any) and `farm` (if any); at least one must be given.
    pub fn new(local: Option<DispatchMiner>, farm: Option<FarmCoordinator>) -> HostMiner {
        let local_rate = HostMiner::local_rate_cell(local.as_ref());
        HostMiner {
            local,
            farm,
            local_rate,
        }
    }

    /// The rate cell of the local devices, for [`FarmCoordinator::start`].
    pub fn local_rate_cell(local: Option<&DispatchMiner>) -> Arc<AtomicU64> {
        local.map_or_else(|| Arc::new(AtomicU64::new(0)), DispatchMiner::rate_handle)
    }

    /// Wall time the local calibration took.
    pub fn calibration_time(&self) -> Duration {
        self.local
            .as_ref()
            .map_or(Duration::ZERO, DispatchMiner::calibration_time)
    }

    /// Attempts so far: the local devices' over all jobs, plus the workers' reports on the
    /// current job.
    pub fn attempts(&self) -> u64 {
        let local = self.local.as_ref().map_or(0, DispatchMiner::attempts);
        let remote: u64 = self.farm.as_ref().map_or(0, |f| {
            f.status().workers.iter().map(|w| w.job_attempts).sum()
        });
        local + remote
    }

    /// The farm's coordinator, if any.
    pub fn farm(&self) -> Option<&FarmCoordinator> {
        self.farm.as_ref()
    }
}

impl Miner for HostMiner {
    fn set_work(&mut self, job_id: u64, work: &Work) {
        let local_start = self
            .farm
            .as_ref()
            .map(|f| f.set_job(job_id, &Job::from_work(work), Some(work.difficulty), None));
        if let Some(local) = &mut self.local {
            local.set_work_from(job_id, work, local_start);
        }
    }

    fn stop(&mut self) {
        if let Some(f) = &self.farm {
            f.clear_job();
        }
        if let Some(local) = &mut self.local {
            local.stop();
        }
    }

    fn poll_solution(&mut self, cx: &mut Context<'_>) -> Poll<Option<MinedSolution>> {
        if let Some(local) = &mut self.local {
            match local.poll_solution(cx) {
                Poll::Ready(Some(s)) => return Poll::Ready(Some(s)),
                // No local device is left: the farm (if any) goes on alone.
                Poll::Ready(None) => self.local = None,
                Poll::Pending => {}
            }
        }
        let Some(farm) = &mut self.farm else {
            return if self.local.is_some() {
                Poll::Pending
            } else {
                Poll::Ready(None)
            };
        };
        match farm.poll_hit(cx) {
            Poll::Ready(Some(v)) => Poll::Ready(Some(MinedSolution {
                job_id: v.job_id,
                nonce: v.hit.nonce,
                seal: v.hit.seal,
                device: v.found_by,
            })),
            Poll::Ready(None) if self.local.is_some() => Poll::Pending,
            other => other.map(|_| None),
        }
    }

    fn rate(&self) -> Option<f64> {
        let local = f64::from_bits(self.local_rate.load(Ordering::Relaxed));
        let farm = self
            .farm
            .as_ref()
            .map_or(0.0, |f| f.status().farm_rate_ewma);
        Some(farm.max(local)).filter(|r| *r > 0.0)
    }
}
