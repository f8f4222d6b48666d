//! With the `bundle-plugins` feature (set by maturin through pyproject.toml), builds the
//! workspace's backend plugins and copies them into `pow_host/plugins/`, where the wheel picks
//! them up and the module finds them at run time.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_BUNDLE_PLUGINS").is_none() {
        return;
    }
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest.parent().unwrap().to_path_buf();
    // The plugins' sources (folders are watched recursively), so that a changed kernel is
    // bundled again instead of the plugins of the first build.
    for dir in ["backends", "backend-api", "seal", "kernels"] {
        println!("cargo:rerun-if-changed={}", workspace.join(dir).display());
    }
    // A target folder of its own, so this nested build never waits on the outer one's lock.
    let target = workspace.join("target").join("python-plugins");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&workspace)
        .args(["build", "--release"])
        .args([
            "-p",
            "pow-backend-cpu",
            "-p",
            "pow-backend-opencl",
            "-p",
            "pow-backend-cuda",
        ])
        .arg("--target-dir")
        .arg(&target)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_FEATURE_BUNDLE_PLUGINS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the backend plugins failed");
    let out = manifest.join("pow_host").join("plugins");
    std::fs::create_dir_all(&out).unwrap();
    for entry in std::fs::read_dir(target.join("release")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("libpow_backend_") && name.ends_with(".so") {
            std::fs::copy(&path, out.join(&name)).unwrap();
        }
    }
}
