//! How the CPU backend chooses its hashing path: the fastest measured rate wins, a measurement
//! is cached per CPU model, plugin version and list of paths, a cached path that is not
//! available is ignored, `path=NAME` forces one without measuring, and the real measurement
//! is short and rates every path.

use pow_backend_api::{Hit, Options};
use pow_backend_cpu::choose::{choose_with, fastest, measured, Source};
use pow_backend_cpu::measure::{measure_rates, PathRate, ROUNDS, SLICE};
use pow_backend_cpu::path_cache::{CacheKey, PathCache, FILE_NAME, FORMAT_VERSION};
use pow_backend_cpu::prepared::PreparedJob;
use pow_backend_cpu::{available_paths, Path};
use std::cell::Cell;
use std::time::{Duration, Instant};

fn never(_: &PreparedJob, _: u64, _: u64) -> Option<Hit> {
    None
}

/// Paths that never hash, named `names`.
fn fake_paths(names: &[&'static str]) -> Vec<Path> {
    names
        .iter()
        .map(|name| Path {
            name,
            search: never,
        })
        .collect()
}

fn rates(list: &[(&str, f64)]) -> Vec<PathRate> {
    list.iter()
        .map(|(path, r)| PathRate {
            path: path.to_string(),
            attempts_per_second: *r,
        })
        .collect()
}

/// Options with `cache-dir` set to `dir` and the given settings.
fn options(dir: &std::path::Path, pairs: &[(&str, &str)]) -> Options {
    let mut o = Options::default();
    o.set(Options::CACHE_DIR, dir.to_str().unwrap());
    for (k, v) in pairs {
        o.set(k, *v);
    }
    o
}

/// A measuring function that returns `list` and counts its calls in `calls`.
fn feeding<'a>(
    list: &'a [(&'a str, f64)],
    calls: &'a Cell<usize>,
) -> impl FnOnce(&[Path]) -> Vec<PathRate> + 'a {
    move |_| {
        calls.set(calls.get() + 1);
        rates(list)
    }
}

fn no_measuring(_: &[Path]) -> Vec<PathRate> {
    panic!("nothing should be measured")
}

#[test]
fn the_path_with_the_highest_measured_rate_is_chosen() {
    let paths = fake_paths(&["a", "b", "c", "portable"]);
    for (list, winner) in [
        (
            &[("a", 5e6), ("b", 9e6), ("c", 2e6), ("portable", 1e6)][..],
            "b",
        ),
        (
            &[("a", 5e6), ("b", 4e6), ("c", 6e6), ("portable", 1e6)][..],
            "c",
        ),
        (
            &[("a", 1e6), ("b", 1e6), ("c", 1e6), ("portable", 3e6)][..],
            "portable",
        ),
    ] {
        let calls = Cell::new(0);
        let choice = measured(&paths, None, false, feeding(list, &calls));
        assert_eq!(
            (choice.path.name, choice.source),
            (winner, Source::Measured)
        );
        assert_eq!((calls.get(), choice.rates), (1, rates(list)));
    }
    // Equal rates: the first in the list's order.
    assert_eq!(
        fastest(&paths, &rates(&[("c", 2.0), ("a", 2.0)]))
            .unwrap()
            .name,
        "c"
    );
    assert!(fastest(&paths, &rates(&[("a", 0.0)])).is_none());
}

#[test]
fn the_detail_says_the_path_then_the_rates_and_where_they_come_from() {
    let paths = fake_paths(&["avx2", "shani-avx2", "portable"]);
    let list = [("portable", 1.6e6), ("avx2", 5.4e6), ("shani-avx2", 4.2e6)];
    let calls = Cell::new(0);
    let dir = tempfile::tempdir().unwrap();
    let cache = PathCache::in_dir(dir.path());
    let fresh = measured(&paths, Some(&cache), false, feeding(&list, &calls));
    assert_eq!(
        fresh.detail(),
        "path avx2\nrates on 1 thread, measured now: avx2 5.4 M/s, shani-avx2 4.2, portable 1.6"
    );
    let cached = measured(&paths, Some(&cache), false, no_measuring);
    assert_eq!(
        cached.detail(),
        "path avx2\nrates on 1 thread, from the cache: avx2 5.4 M/s, shani-avx2 4.2, portable 1.6"
    );
    let forced = choose_with(
        &paths,
        &options(dir.path(), &[("path", "portable")]),
        no_measuring,
    );
    assert_eq!(
        forced.unwrap().detail(),
        "path portable\nforced with path=portable, not measured"
    );
}

#[test]
fn a_measurement_is_cached_and_read_back_by_the_next_choice() {
    let paths = fake_paths(&["a", "b", "portable"]);
    let dir = tempfile::tempdir().unwrap();
    let list = [("a", 3e6), ("b", 7e6), ("portable", 1e6)];
    let calls = Cell::new(0);
    let first = choose_with(&paths, &options(dir.path(), &[]), feeding(&list, &calls)).unwrap();
    assert_eq!(
        (first.path.name, first.source, calls.get()),
        ("b", Source::Measured, 1)
    );
    assert!(dir.path().join(FILE_NAME).is_file());
    let second = choose_with(
        &paths,
        &options(dir.path(), &[("path", "auto")]),
        no_measuring,
    )
    .unwrap();
    assert_eq!((second.path.name, second.source), ("b", Source::Cached));
    assert_eq!(second.rates, rates(&list));

    // The file is versioned JSON with the key in the clear.
    let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["version"], FORMAT_VERSION);
    let entry = &json["entries"][0];
    assert_eq!(entry["cpu"], pow_backend_api::cpu_id::cpu_identity());
    let version = entry["plugin_version"].as_str().unwrap();
    let (crate_version, digest) = version.split_once('+').unwrap();
    assert_eq!(crate_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        digest.len(),
        16,
        "a source digest follows the version: {version}"
    );
    assert_eq!(entry["paths"], serde_json::json!(["a", "b", "portable"]));

    // `recalibrate=1` measures again and replaces the entry.
    let again = [("a", 8e6), ("b", 7e6), ("portable", 1e6)];
    let calls = Cell::new(0);
    let re = choose_with(
        &paths,
        &options(dir.path(), &[(Options::RECALIBRATE, "1")]),
        feeding(&again, &calls),
    )
    .unwrap();
    assert_eq!(
        (re.path.name, re.source, calls.get()),
        ("a", Source::Measured, 1)
    );
    let cache = PathCache::in_dir(dir.path());
    assert_eq!(cache.load(&CacheKey::here(&paths)), Some(rates(&again)));
    let text = std::fs::read_to_string(cache.file()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["entries"].as_array().unwrap().len(), 1, "{json}");
}

#[test]
fn another_cpu_model_or_another_list_of_paths_measures_again() {
    let paths = fake_paths(&["a", "b", "portable"]);
    let here = CacheKey::here(&paths);
    let list = [("a", 3e6), ("b", 7e6), ("portable", 1e6)];
    let other_cpu = CacheKey {
        cpu: format!("{} (another stepping)", here.cpu),
        ..here.clone()
    };
    let other_paths = CacheKey::here(&fake_paths(&["a", "portable"]));
    let other_version = CacheKey {
        plugin_version: "0.0.0-other".into(),
        ..here.clone()
    };
    for key in [other_cpu, other_paths, other_version] {
        let dir = tempfile::tempdir().unwrap();
        let cache = PathCache::in_dir(dir.path());
        cache
            .store(&key, &rates(&[("a", 9e9), ("portable", 1.0)]))
            .unwrap();
        assert!(cache.load(&key).is_some());
        assert!(cache.load(&here).is_none());
        let calls = Cell::new(0);
        let choice = measured(&paths, Some(&cache), false, feeding(&list, &calls));
        assert_eq!(
            (choice.path.name, choice.source, calls.get()),
            ("b", Source::Measured, 1)
        );
        // Both entries are kept: the other CPU's and this one's.
        assert!(cache.load(&key).is_some());
        assert_eq!(cache.load(&here), Some(rates(&list)));
    }
}

#[test]
fn a_cached_path_that_is_not_available_is_ignored() {
    let paths = fake_paths(&["a", "portable"]);
    let dir = tempfile::tempdir().unwrap();
    let cache = PathCache::in_dir(dir.path());
    // An entry for this CPU and these paths that names a path this build does not have.
    cache
        .store(
            &CacheKey::here(&paths),
            &rates(&[("avx9000", 9e9), ("a", 2e6), ("portable", 1e6)]),
        )
        .unwrap();
    let list = [("a", 2e6), ("portable", 3e6)];
    let calls = Cell::new(0);
    let choice = measured(&paths, Some(&cache), false, feeding(&list, &calls));
    assert_eq!(
        (choice.path.name, choice.source, calls.get()),
        ("portable", Source::Measured, 1)
    );
    // A file of another format version is ignored too.
    let text = std::fs::read_to_string(cache.file()).unwrap();
    std::fs::write(
        cache.file(),
        text.replace("\"version\": 1", "\"version\": 999"),
    )
    .unwrap();
    assert!(cache.load(&CacheKey::here(&paths)).is_none());
}

#[test]
fn a_forced_path_is_not_measured_nor_cached() {
    let paths = fake_paths(&["a", "b", "portable"]);
    let dir = tempfile::tempdir().unwrap();
    let choice = choose_with(&paths, &options(dir.path(), &[("path", "b")]), no_measuring).unwrap();
    assert_eq!((choice.path.name, choice.source), ("b", Source::Forced));
    assert!(choice.rates.is_empty());
    assert!(!dir.path().join(FILE_NAME).exists());
    let err = choose_with(&paths, &options(dir.path(), &[("path", "c")]), no_measuring)
        .err()
        .expect("an unknown path is refused");
    assert!(err.to_string().contains("a, b, portable"), "{err}");
}

#[test]
fn without_a_cache_folder_every_choice_measures_and_nothing_is_written() {
    let paths = fake_paths(&["a", "portable"]);
    let list = [("a", 2e6), ("portable", 1e6)];
    for _ in 0..2 {
        let calls = Cell::new(0);
        let choice = choose_with(&paths, &Options::default(), feeding(&list, &calls)).unwrap();
        assert_eq!(
            (choice.path.name, choice.source, calls.get()),
            ("a", Source::Measured, 1)
        );
    }
}

#[test]
fn a_cache_that_cannot_be_written_is_reported_in_the_detail() {
    let paths = fake_paths(&["a", "portable"]);
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let cache = PathCache::in_dir(&blocker);
    let calls = Cell::new(0);
    let choice = measured(&paths, Some(&cache), false, feeding(&[("a", 2e6)], &calls));
    assert_eq!(choice.path.name, "a");
    assert!(choice.not_cached.is_some());
    assert!(
        choice.detail().contains("not cached: cannot write"),
        "{}",
        choice.detail()
    );
}

#[test]
fn measuring_the_real_paths_is_short_and_rates_every_path() {
    let paths = available_paths();
    let began = Instant::now();
    let measured = measure_rates(&paths);
    let took = began.elapsed();
    let names: Vec<_> = measured.iter().map(|r| r.path.as_str()).collect();
    let expected: Vec<_> = paths.iter().map(|p| p.name).collect();
    assert_eq!(names, expected);
    for r in &measured {
        assert!(r.attempts_per_second > 1e3, "{r:?}");
    }
    // Each slice ends after the chunk that crosses SLICE; allow a slow (debug, loaded) machine
    // a generous margin over the nominal budget.
    let nominal = SLICE * (ROUNDS * paths.len()) as u32;
    assert!(
        took < nominal + Duration::from_secs(2),
        "{took:?} for {} paths",
        paths.len()
    );
    eprintln!("measured in {took:?}: {measured:?}");
}
