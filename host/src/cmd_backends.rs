//! `pow-host backends`: what plugins were loaded and what devices they offer.

use crate::Context;
use pow_host::output::BackendsOutput;
use pow_host::Failure;

/// Arguments of `pow-host backends`.
#[derive(clap::Args, Debug)]
pub struct BackendsArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: &BackendsArgs) -> Result<(), Failure> {
    let out = BackendsOutput::collect(&ctx.report, &ctx.selection);
    if args.json {
        println!("{}", serde_json::to_string(&out).expect("JSON"));
        return Ok(());
    }
    if out.backends.is_empty() {
        println!("no backend plugins found");
    }
    for p in &out.backends {
        println!(
            "{}  {}  (pow-backend-api {}, interface {})",
            p.name, p.file, p.api_version, p.interface_version
        );
        if !p.description.is_empty() {
            println!("    {}", p.description);
        }
        if let Some(n) = &p.note {
            println!("    no devices: {n}");
        }
        for d in &p.devices {
            // With -v, the rest of the detail (the CPU backend's measured rates) in brackets.
            let more = match &d.more_detail {
                Some(more) if ctx.verbose > 0 => format!(" ({})", more.replace('\n', "; ")),
                _ => String::new(),
            };
            println!(
                "    [{}] {} ({}, {} units) {}{more}",
                d.index, d.name, d.kind, d.compute_units, d.detail
            );
        }
    }
    Ok(())
}
