//! `pow-host backends`: what plugins were loaded and what devices they offer.

use crate::Context;
use pow_host::Failure;
use serde_json::json;

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
        let backends: Vec<_> = out
            .iter()
            .map(|(p, devices, note)| {
                json!({
                    "name": p.name,
                    "file": p.path.display().to_string(),
                    "description": p.description,
                    "api_version": p.api_version,
                    "interface_version": p.interface_version,
                    "note": note,
                    "devices": devices.iter().map(|d| json!({
                        "index": d.index,
                        "name": d.name.as_str(),
                        "kind": d.kind.as_str(),
                        "compute_units": d.compute_units,
                        "detail": d.detail.as_str(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let skipped: Vec<_> = ctx
            .report
            .skipped
            .iter()
            .map(|s| json!({"file": s.path.display().to_string(), "reason": s.reason}))
            .collect();
        let insecure: Vec<_> = ctx
            .report
            .insecure
            .iter()
            .map(|s| json!({"file": s.path.display().to_string(), "reason": s.reason}))
            .collect();
        println!(
            "{}",
            json!({
                "interface_version": pow_backend_api::INTERFACE_VERSION,
                "api_version": pow_backend_api::ffi::api_package_version(),
                "backends": backends,
                "skipped": skipped,
                "insecure": insecure,
            })
        );
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
