//! `pow-host backends`: what plugins were loaded and what devices they offer.

use crate::Context;
use pow_host::output::{BackendOutput, BackendsOutput, DeviceOutput, PluginFileOutput};
use pow_host::plugins::Skipped;
use pow_host::Failure;

/// Arguments of `pow-host backends`.
#[derive(clap::Args, Debug)]
pub struct BackendsArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: &BackendsArgs) -> Result<(), Failure> {
    let mut out = Vec::new();
    for plugin in &ctx.report.plugins {
        let options = ctx.selection.options_for(&plugin.name);
        let (devices, error) = match plugin.list_devices(&options) {
            Ok(d) => (d, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        let reason = if devices.is_empty() && error.is_none() {
            plugin.unavailable_reason(&options)
        } else {
            None
        };
        out.push((plugin, devices, error.or(reason)));
    }
    if args.json {
        let backends = out
            .iter()
            .map(|(p, devices, note)| BackendOutput {
                name: p.name.clone(),
                file: p.path.display().to_string(),
                description: p.description.clone(),
                api_version: p.api_version.clone(),
                interface_version: p.interface_version,
                note: note.clone(),
                devices: devices
                    .iter()
                    .map(|d| DeviceOutput {
                        index: d.index,
                        name: d.name.to_string(),
                        kind: d.kind.as_str().to_string(),
                        compute_units: d.compute_units,
                        detail: d.detail.to_string(),
                    })
                    .collect(),
            })
            .collect();
        let files = |list: &[Skipped]| -> Vec<PluginFileOutput> {
            list.iter()
                .map(|s| PluginFileOutput {
                    file: s.path.display().to_string(),
                    reason: s.reason.clone(),
                })
                .collect()
        };
        let json = BackendsOutput {
            interface_version: pow_backend_api::INTERFACE_VERSION,
            api_version: pow_backend_api::ffi::api_package_version().to_string(),
            backends,
            skipped: files(&ctx.report.skipped),
            insecure: files(&ctx.report.insecure),
        };
        println!("{}", serde_json::to_string(&json).expect("JSON"));
        return Ok(());
    }
    if out.is_empty() {
        println!("no backend plugins found");
    }
    for (p, devices, note) in &out {
        println!(
            "{}  {}  (pow-backend-api {}, interface {})",
            p.name,
            p.path.display(),
            p.api_version,
            p.interface_version
        );
        if !p.description.is_empty() {
            println!("    {}", p.description);
        }
        if let Some(n) = note {
            println!("    no devices: {n}");
        }
        for d in devices {
            println!(
                "    [{}] {} ({}, {} units) {}",
                d.index,
                d.name,
                d.kind.as_str(),
                d.compute_units,
                d.detail
            );
        }
    }
    Ok(())
}
