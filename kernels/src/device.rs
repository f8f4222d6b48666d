//! The one device type of every GPU plugin: a job laid out for the kernel plus the API's
//! [`Launcher`]; `set_job` and `search` are written here once.

use crate::job::GpuJob;
use crate::launch::{drive_search, Launcher};
use pow_backend_api::{BackendError, Device, DeviceInfo, Job, SearchOutcome};
use std::sync::atomic::AtomicBool;

/// A GPU device: what a plugin's `open_device` returns, over that plugin's launcher.
pub struct GpuDevice<L> {
    launcher: L,
    job: Option<GpuJob>,
}

impl<L: Launcher> GpuDevice<L> {
    /// A device with no job yet.
    pub fn new(launcher: L) -> GpuDevice<L> {
        GpuDevice {
            launcher,
            job: None,
        }
    }

    /// The launcher, for API-specific queries.
    pub fn launcher(&self) -> &L {
        &self.launcher
    }
}

impl<L: Launcher + Send + 'static> Device for GpuDevice<L> {
    fn info(&self) -> DeviceInfo {
        self.launcher.info()
    }

    fn set_job(&mut self, job: &Job) -> Result<(), BackendError> {
        let gpu = GpuJob::new(job)?;
        self.launcher.load(&gpu)?;
        self.job = Some(gpu);
        Ok(())
    }

    fn search(
        &mut self,
        start: u64,
        count: u64,
        cancel: &AtomicBool,
    ) -> Result<SearchOutcome, BackendError> {
        let job = self
            .job
            .as_ref()
            .ok_or_else(|| BackendError::invalid("search called before set_job"))?;
        let batch = self.launcher.batch()?;
        drive_search(&mut self.launcher, job, start, count, batch, cancel)
    }
}
