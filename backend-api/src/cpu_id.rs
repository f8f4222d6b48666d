//! The identity of this machine's CPU, read once from `/proc/cpuinfo` for the host's and the
//! backends' cache keys (the host's calibration cache, the CPU backend's path measurement).
//!
//! Only the first processor's block is read: the vendor, model name, family, model and
//! stepping on x86, the implementer, part, variant and revision on Arm. Where the file does
//! not exist (not Linux) every field is empty and only the architecture tells CPUs apart.

/// The `/proc/cpuinfo` fields that name a CPU model (x86, then Arm).
const IDENTITY_FIELDS: [&str; 9] = [
    "vendor_id",
    "model name",
    "cpu family",
    "model",
    "stepping",
    "CPU implementer",
    "CPU part",
    "CPU variant",
    "CPU revision",
];

/// The `key: value` lines of the first processor's block of a `/proc/cpuinfo` text.
pub fn first_processor_fields(cpuinfo: &str) -> Vec<(&str, &str)> {
    cpuinfo
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

fn read_cpuinfo() -> String {
    std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default()
}

/// The CPU's model name (`model name` in `/proc/cpuinfo`), or empty when unknown.
pub fn cpu_model_name() -> String {
    let text = read_cpuinfo();
    first_processor_fields(&text)
        .into_iter()
        .find(|(k, _)| *k == "model name")
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

/// The CPU model of a `/proc/cpuinfo` text on architecture `arch`: its identity fields as
/// `key=value` joined by `; `, then `arch=ARCH`.
pub fn identity_of(cpuinfo: &str, arch: &str) -> String {
    let fields = first_processor_fields(cpuinfo);
    let mut parts: Vec<String> = IDENTITY_FIELDS
        .iter()
        .filter_map(|name| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(k, v)| format!("{k}={v}"))
        })
        .collect();
    parts.push(format!("arch={arch}"));
    parts.join("; ")
}

/// This machine's CPU model (see [`identity_of`]): the same for every machine with that model,
/// different for another model, family, stepping or architecture.
pub fn cpu_identity() -> String {
    identity_of(&read_cpuinfo(), std::env::consts::ARCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    const X86: &str =
        "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 143\n\
        model name\t: Intel(R) Xeon(R) Platinum 8481C\nstepping\t: 8\nflags\t\t: fpu sse\n\n\
        processor\t: 1\nvendor_id\t: GenuineIntel\nmodel name\t: other\n";

    #[test]
    fn identity_names_model_family_and_stepping_of_the_first_processor() {
        assert_eq!(
            identity_of(X86, "x86_64"),
            "vendor_id=GenuineIntel; model name=Intel(R) Xeon(R) Platinum 8481C; cpu family=6; \
             model=143; stepping=8; arch=x86_64"
        );
        let arm = "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n\
                   CPU variant\t: 0x3\nCPU revision\t: 1\n";
        assert_eq!(
            identity_of(arm, "aarch64"),
            "CPU implementer=0x41; CPU part=0xd0c; CPU variant=0x3; CPU revision=1; arch=aarch64"
        );
        assert_eq!(identity_of("", "x86_64"), "arch=x86_64");
        assert_ne!(
            identity_of(X86, "x86_64"),
            identity_of(&X86.replace("stepping\t: 8", "stepping\t: 7"), "x86_64")
        );
    }
}
