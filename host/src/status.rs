//! Rendering the dispatcher's statistics ([`pow_dispatch::Stats`]): a status line updated in
//! place on a terminal, plain periodic lines otherwise, or JSON lines for programs.

use crate::output::{DeviceDroppedEvent, StatsEvent};
use pow_dispatch::{rate_text, DeviceState, DropReason, Stats};
use std::io::{IsTerminal, Write};

/// How statistics are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusMode {
    /// One line rewritten in place with `\r` (stderr is a terminal).
    Live,
    /// One plain line per update.
    Lines,
    /// One JSON object per line.
    Json,
    /// Nothing.
    Quiet,
}

impl StatusMode {
    /// `Json` when asked, otherwise `Live` on a terminal and `Lines` elsewhere.
    pub fn detect(json: bool) -> StatusMode {
        if json {
            StatusMode::Json
        } else if std::io::stderr().is_terminal() {
            StatusMode::Live
        } else {
            StatusMode::Lines
        }
    }
}

/// Writes statistics to stderr.
pub struct StatusPrinter {
    mode: StatusMode,
    live_len: usize,
}

impl StatusPrinter {
    /// A printer in `mode`.
    pub fn new(mode: StatusMode) -> Self {
        StatusPrinter { mode, live_len: 0 }
    }

    /// The one-line summary of a snapshot.
    pub fn line(stats: &Stats) -> String {
        let mut s = String::new();
        if let Some(b) = stats.block_number {
            s.push_str(&format!("block {b} | "));
        }
        if let Some(d) = stats.difficulty {
            s.push_str(&format!("difficulty {d} | "));
        }
        s.push_str(&format!(
            "{} (avg {}) | {} attempts | {:.1} s | {} rounds",
            rate_text(stats.hash_rate),
            rate_text(stats.hash_rate_perpetual),
            stats.attempts,
            stats.time_spent.as_secs_f64(),
            stats.rounds
        ));
        for d in &stats.devices {
            match d.state {
                DeviceState::Idle | DeviceState::Working => {
                    s.push_str(&format!(" | {} {}", d.label, rate_text(d.hash_rate)))
                }
                other => s.push_str(&format!(" | {} {}", d.label, other.as_str())),
            }
        }
        s
    }

    /// Shows a snapshot.
    pub fn show(&mut self, stats: &Stats) {
        let mut err = std::io::stderr().lock();
        match self.mode {
            StatusMode::Quiet => {}
            StatusMode::Json => {
                let event = StatsEvent::from(stats);
                let _ = writeln!(err, "{}", serde_json::to_string(&event).unwrap_or_default());
            }
            StatusMode::Lines => {
                let _ = writeln!(err, "{}", Self::line(stats));
            }
            StatusMode::Live => {
                let line = Self::line(stats);
                let pad = self.live_len.saturating_sub(line.chars().count());
                let _ = write!(err, "\r{line}{}", " ".repeat(pad));
                let _ = err.flush();
                self.live_len = line.chars().count();
            }
        }
    }

    /// Reports a dropped device: a warning line (always, since other warnings are plain text
    /// too), followed in JSON mode by a JSON line.
    pub fn dropped(&mut self, label: &str, plugin: &std::path::Path, reason: &DropReason) {
        let text = reason.to_string();
        let path = plugin.display().to_string();
        if text.contains(&path) {
            self.message(&format!("warning: device {label} dropped: {text}"));
        } else {
            self.message(&format!(
                "warning: device {label} dropped: {text} (plugin {path})"
            ));
        }
        if self.mode == StatusMode::Json {
            let event = DeviceDroppedEvent::new(label, plugin, &text);
            eprintln!("{}", serde_json::to_string(&event).unwrap_or_default());
        }
    }

    /// Ends a live line so that later output starts on a fresh line.
    pub fn finish(&mut self) {
        if self.mode == StatusMode::Live && self.live_len > 0 {
            eprintln!();
            self.live_len = 0;
        }
    }

    /// Prints a message on its own line (ending a live line first).
    pub fn message(&mut self, text: &str) {
        self.finish();
        eprintln!("{text}");
    }
}
