//! Start-up calibration, the one path every mining command takes (`solve`, `register`,
//! `faucet`): measure the devices on the job's layout, or read the plan cached in
//! `~/.cache/pow-host/` for that layout, and apply the fastest mix and its batch sizes.
//! `bench` measures afresh with its own phases (see [`crate::run_loop::bench_dispatch`]).

use crate::dispatch_devices::DeviceList;
use crate::Failure;
use pow_backend_api::Job;
use pow_dispatch::{calibrate, CalibrationSettings, Config, Dispatcher, Plan, PlanSource};

/// Calibrates an idle `dispatcher` on `job`'s layout (or runs every device uncalibrated when
/// the budget is 0) and applies the plan. With `verbose`, the measurements and the choice are
/// printed on stderr. Devices dropped while calibrating reach the dispatcher's events.
pub fn calibrate_dispatcher(
    dispatcher: &Dispatcher,
    job: &Job,
    settings: &CalibrationSettings,
    verbose: bool,
) -> Result<Plan, Failure> {
    let plan = if settings.budget.is_zero() {
        Plan::uncalibrated(dispatcher)
    } else {
        calibrate(dispatcher, job, settings)
            .map_err(|e| Failure::runtime(format!("calibration failed: {e}")))?
    };
    for p in plan.devices.iter().filter(|p| p.unmeasured) {
        if plan.source == PlanSource::Measured && p.failure.is_none() {
            eprintln!(
                "note: device {} was still in its first batch when calibration ended; it \
                 joins when that batch returns (or is abandoned at its deadline)",
                p.label
            );
        }
    }
    if verbose {
        for line in plan.describe() {
            eprintln!("{line}");
        }
    }
    Ok(plan)
}

/// Starts a dispatcher over `devices` and calibrates it on `job`'s layout with
/// [`calibrate_dispatcher`].
pub fn start(
    devices: DeviceList,
    job: &Job,
    config: Config,
    settings: &CalibrationSettings,
    verbose: bool,
) -> Result<(Dispatcher, Plan), Failure> {
    let dispatcher = Dispatcher::new(devices, config)
        .map_err(|e| Failure::runtime(format!("cannot start the dispatcher: {e}")))?;
    let plan = calibrate_dispatcher(&dispatcher, job, settings, verbose)?;
    Ok((dispatcher, plan))
}
