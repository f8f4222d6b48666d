//! `pow-host`: Bittensor proof-of-work solver that runs backend plugins on every device.

mod chain_cmd;
mod cmd_backends;
mod cmd_bench;
mod cmd_farm;
mod cmd_faucet;
mod cmd_register;
mod cmd_soak;
mod cmd_solve;
mod cmd_worker;

use clap::{Args, Parser, Subcommand};
use pow_host::plugins::{load_all_with, plugin_dirs, LoadPolicy, LoadReport};
use pow_host::selection::Selection;
use pow_host::Failure;
use std::path::PathBuf;

/// Bittensor proof-of-work registration solver with pluggable CPU and GPU backends.
#[derive(Parser, Debug)]
#[command(name = "pow-host", version, about)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a command, `pow-host --netuid N ...` registers (same options as `register`).
    #[command(flatten)]
    default_register: cmd_register::RegisterArgs,
}

/// Options that apply to every command.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Backends to use, comma-separated (for example `cuda,cpu`), or `all`.
    #[arg(long, global = true, default_value = "all", value_name = "LIST")]
    backends: String,
    /// Extra folder to load backend plugins from (repeatable).
    #[arg(long = "plugin-dir", global = true, value_name = "DIR")]
    plugin_dirs: Vec<PathBuf>,
    /// CPU worker threads (default: one per core).
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    /// CUDA devices to use, comma-separated indexes (default: all).
    #[arg(long, global = true, value_name = "LIST")]
    cuda_devices: Option<String>,
    /// OpenCL devices to use, comma-separated indexes (default: all).
    #[arg(long, global = true, value_name = "LIST")]
    opencl_devices: Option<String>,
    /// A backend-specific setting, `BACKEND.KEY=VALUE` (repeatable), e.g. `cpu.path=portable`.
    #[arg(long = "backend-opt", global = true, value_name = "BACKEND.KEY=VALUE")]
    backend_opts: Vec<String>,
    /// More output on stderr (plugin loading, devices).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Load plugin files even when other users could have written them (group- or
    /// world-writable file or folder, or owned by someone else).
    #[arg(long, global = true)]
    allow_insecure_plugins: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List loaded backend plugins and their devices.
    Backends(cmd_backends::BackendsArgs),
    /// Solve one challenge offline and print the nonce and seal.
    Solve(cmd_solve::SolveArgs),
    /// Measure each device alone, candidate mixes, the chosen mix dispatched, and the
    /// latency of challenge switches.
    Bench(cmd_bench::BenchArgs),
    /// Solve continuously with a challenge switch every second and random device failures;
    /// report lost or duplicated work and memory growth.
    Soak(cmd_soak::SoakArgs),
    /// Register a hotkey on a subnet by proof of work (the default command).
    Register(cmd_register::RegisterArgs),
    /// Draw test TAO from the faucet (test and dev runtimes).
    Faucet(cmd_faucet::FaucetArgs),
    /// Mine for a farm's coordinator: a keyless worker on NATS (`--farm nats://HOST:PORT`).
    Worker(cmd_worker::WorkerArgs),
    /// Look at a farm: `pow-host farm status --farm nats://HOST:PORT`.
    Farm(cmd_farm::FarmCmdArgs),
}

/// What every command gets: the loaded plugins and the user's selection.
pub struct Context {
    /// Plugins found and refused.
    pub report: LoadReport,
    /// Backends, devices and options asked for.
    pub selection: Selection,
    /// Verbosity level.
    pub verbose: u8,
}

impl Command {
    /// Whether the command was given `--recalibrate` (passed on to every backend as
    /// `recalibrate=1`); commands without that option never are.
    fn recalibrate(&self) -> bool {
        match self {
            Command::Solve(a) => a.dispatch.calibration.recalibrate,
            Command::Bench(a) => a.dispatch.calibration.recalibrate,
            Command::Register(a) => a.chain.calibration.recalibrate,
            Command::Faucet(a) => a.chain.calibration.recalibrate,
            Command::Worker(a) => a.calibration.recalibrate,
            Command::Backends(_) | Command::Soak(_) | Command::Farm(_) => false,
        }
    }
}

impl GlobalArgs {
    fn selection(&self) -> Result<Selection, Failure> {
        let mut sel = Selection::new(&self.backends);
        if let Some(t) = self.threads {
            sel.common.push(("threads".into(), t.to_string()));
        }
        if let Some(list) = &self.cuda_devices {
            sel.devices
                .insert("cuda".into(), Selection::parse_device_list(list)?);
        }
        if let Some(list) = &self.opencl_devices {
            sel.devices
                .insert("opencl".into(), Selection::parse_device_list(list)?);
        }
        for opt in &self.backend_opts {
            sel.add_backend_option(opt)?;
        }
        Ok(sel)
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let mut selection = cli.global.selection()?;
    selection.host.recalibrate = match &cli.command {
        Some(command) => command.recalibrate(),
        None => cli.default_register.chain.calibration.recalibrate,
    };
    let dirs = plugin_dirs(&cli.global.plugin_dirs);
    let report = load_all_with(
        &dirs,
        LoadPolicy {
            allow_insecure: cli.global.allow_insecure_plugins,
        },
    );
    if cli.global.verbose > 0 {
        for d in &dirs {
            eprintln!("plugin folder: {}", d.path.display());
        }
        for p in &report.plugins {
            eprintln!(
                "loaded backend `{}` from {} (pow-backend-api {}, interface {})",
                p.name,
                p.path.display(),
                p.api_version,
                p.interface_version
            );
        }
    }
    for s in &report.skipped {
        eprintln!("warning: skipped plugin {}: {}", s.path.display(), s.reason);
    }
    for s in &report.insecure {
        eprintln!(
            "warning: insecure plugin {}: {}",
            s.path.display(),
            s.reason
        );
    }
    let ctx = Context {
        report,
        selection,
        verbose: cli.global.verbose,
    };
    match cli.command {
        Some(Command::Backends(args)) => cmd_backends::run(&ctx, &args),
        Some(Command::Solve(args)) => cmd_solve::run(&ctx, &args),
        Some(Command::Bench(args)) => cmd_bench::run(&ctx, &args),
        Some(Command::Soak(args)) => cmd_soak::run(&ctx, &args),
        Some(Command::Register(args)) => cmd_register::run(&ctx, &args),
        Some(Command::Faucet(args)) => cmd_faucet::run(&ctx, &args),
        Some(Command::Worker(args)) => cmd_worker::run(&ctx, &args),
        Some(Command::Farm(args)) => cmd_farm::run(&args),
        None => cmd_register::run(&ctx, &cli.default_register),
    }
}

/// Whether the command line asks `register` or `faucet` (or the default register) for JSON:
/// their usage errors, even those found while parsing, are then one JSON object on stdout.
fn chain_json_requested(args: &[std::ffi::OsString]) -> bool {
    const COMMANDS: [&str; 8] = [
        "backends", "solve", "bench", "soak", "register", "faucet", "worker", "farm",
    ];
    let mut words = args.iter().skip(1).filter_map(|a| a.to_str());
    let command = words.clone().find(|a| COMMANDS.contains(a));
    words.any(|a| a == "--json") && command.is_none_or(|c| c == "register" || c == "faucet")
}

/// Whether the command line asks `worker` or `farm` for JSON: their errors are then one JSON
/// object on stdout too (the same error object as `register`'s).
fn farm_json_requested(args: &[std::ffi::OsString]) -> bool {
    let words: Vec<&str> = args.iter().skip(1).filter_map(|a| a.to_str()).collect();
    words.contains(&"--json") && words.iter().any(|w| *w == "worker" || *w == "farm")
}

/// Prints `f` as the error object on stdout (and its line on stderr) and exits with its code.
fn json_failure_exit(f: &pow_host::Failure) -> ! {
    let outcome = pow_host::output::ErrorOutcome::Error {
        error: f.message.clone(),
        exit_code: f.code,
    };
    println!("{}", serde_json::to_string(&outcome).expect("JSON"));
    eprintln!("error: {}", f.message);
    std::process::exit(f.code);
}

/// Exits with a usage error found before a command runs: `error: ...` on stderr and, when
/// `register` or `faucet` was asked for JSON, the same error object they print.
fn usage_exit(json: bool, message: &str, clap_error: Option<clap::Error>) -> ! {
    if json {
        let outcome = pow_host::output::ErrorOutcome::Error {
            error: message.to_string(),
            exit_code: 2,
        };
        println!("{}", serde_json::to_string(&outcome).expect("JSON"));
        eprintln!("error: {message}");
        std::process::exit(2);
    }
    match clap_error {
        Some(e) => e.exit(),
        None => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
    }
}

fn main() {
    // Arguments that are not UTF-8 are clap's to refuse: read them as they are.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let farm_json = farm_json_requested(&args);
    let json = chain_json_requested(&args) || farm_json;
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() && e.exit_code() == 2 => {
            // clap's own first line, without its `error: ` prefix and the usage after it.
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            let message = first.strip_prefix("error: ").unwrap_or(first).to_string();
            usage_exit(json, &message, Some(e))
        }
        Err(e) => e.exit(),
    };
    if cli.command.is_none() && cli.default_register.netuid.is_none() {
        // No command and nothing to register: show what there is.
        eprintln!("{}", <Cli as clap::CommandFactory>::command().render_help());
        std::process::exit(2);
    }
    if cli.command.is_some() && cli.default_register.netuid.is_some() {
        usage_exit(
            json,
            "put --netuid after the command (or use no command to register)",
            None,
        );
    }
    if let Err(f) = run(cli) {
        if farm_json {
            json_failure_exit(&f);
        }
        eprintln!("error: {}", f.message);
        std::process::exit(f.code);
    }
}
