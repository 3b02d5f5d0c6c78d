//! `covenant-sim`: runs many seeds of the simulator and reports what happened.
//!
//! ```text
//! covenant-sim --seeds 1000 --json                 # seeds 1..=1000, one JSON object
//! covenant-sim --seeds 100000 --start 7 --threads 2
//! covenant-sim --seed 4242                         # replay one seed with a live trace
//! covenant-sim --seeds 200 --mutation no-locking   # a negative control: failures expected
//! ```
//! The exit status is non-zero when any seed fails (a mutation run is expected to fail).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use covenant_sim::{Mutation, SimConfig, SimFailure, SimReport, Simulation};

struct Options {
    seeds: u64,
    start: u64,
    threads: usize,
    json: bool,
    replay: Option<u64>,
    mutation: Option<Mutation>,
}

const USAGE: &str = "usage: covenant-sim [--seeds N] [--start S] [--threads T] [--json] [--seed N] \
[--mutation no-locking|skip-safety-persist|wrong-highest-prepared|blame-relays|trust-claimed-heights|\
unbounded-future-buffer]";

fn parse_mutation(name: &str) -> Result<Mutation, String> {
    Ok(match name {
        "no-locking" => Mutation::NoLocking,
        "skip-safety-persist" => Mutation::SkipSafetyPersist,
        "wrong-highest-prepared" => Mutation::WrongHighestPrepared,
        "blame-relays" => Mutation::BlameRelays,
        "trust-claimed-heights" => Mutation::TrustClaimedHeights,
        "unbounded-future-buffer" => Mutation::UnboundedFutureBuffer,
        other => return Err(format!("unknown mutation {other:?}\n{USAGE}")),
    })
}

fn parse(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        seeds: 100,
        start: 1,
        threads: std::thread::available_parallelism().map_or(1, usize::from),
        json: false,
        replay: None,
        mutation: None,
    };
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value\n{USAGE}"));
        let number = |text: String, name: &str| {
            text.parse::<u64>().map_err(|_| format!("{name} takes a whole number, not {text:?}\n{USAGE}"))
        };
        match arg.as_str() {
            "--seeds" => options.seeds = number(value("--seeds")?, "--seeds")?,
            "--start" => options.start = number(value("--start")?, "--start")?,
            "--threads" => {
                options.threads = usize::try_from(number(value("--threads")?, "--threads")?.max(1)).unwrap_or(1)
            }
            "--seed" => options.replay = Some(number(value("--seed")?, "--seed")?),
            "--mutation" => options.mutation = Some(parse_mutation(&value("--mutation")?)?),
            "--json" => options.json = true,
            "--help" | "-h" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(options)
}

/// A seed's configuration; with a mutation, the kind of run where that bug shows.
fn config(seed: u64, mutation: Option<Mutation>) -> SimConfig {
    match mutation {
        Some(mutation) => SimConfig::for_mutation(seed, mutation),
        None => SimConfig::from_seed(seed),
    }
}

/// What a run of many seeds found.
#[derive(Default)]
struct Totals {
    passed: u64,
    failures: u64,
    first_failure: Option<Box<SimFailure>>,
    faults: BTreeMap<&'static str, u64>,
    heights: u64,
    txs: u64,
}

impl Totals {
    fn add(&mut self, result: Result<SimReport, Box<SimFailure>>) {
        match result {
            Ok(report) => {
                self.passed += 1;
                self.heights += report.heights_min;
                self.txs += report.txs_committed;
                for (kind, count) in report.faults {
                    *self.faults.entry(kind).or_default() += count;
                }
            }
            Err(failure) => {
                self.failures += 1;
                if self.first_failure.as_ref().is_none_or(|first| failure.seed < first.seed) {
                    self.first_failure = Some(failure);
                }
            }
        }
    }
}

fn main() {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    if let Some(seed) = options.replay {
        let config = config(seed, options.mutation);
        eprintln!("seed={seed} config={config:?}");
        match Simulation::new(config).with_live_trace(true).run() {
            Ok(report) => {
                eprintln!("seed={seed} passed: {report:?}");
                return;
            }
            Err(failure) => {
                eprintln!("{failure}");
                std::process::exit(1);
            }
        }
    }
    let started = Instant::now();
    let next = AtomicU64::new(0);
    let totals = Mutex::new(Totals::default());
    std::thread::scope(|scope| {
        for _ in 0..options.threads {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= options.seeds {
                        return;
                    }
                    let seed = options.start + index;
                    let result = Simulation::new(config(seed, options.mutation)).run();
                    totals.lock().expect("totals lock").add(result);
                }
            });
        }
    });
    let totals = totals.into_inner().expect("totals lock");
    let seconds = started.elapsed().as_secs_f64();
    let seeds_per_s = options.seeds as f64 / seconds.max(1e-9);
    let replay = |seed: u64| {
        let mutation = options.mutation.map(|m| format!(" --mutation {}", mutation_name(m))).unwrap_or_default();
        format!("cargo run --release -p covenant-sim -- --seed {seed}{mutation}")
    };
    if options.json {
        let faults: serde_json::Map<String, serde_json::Value> =
            totals.faults.iter().map(|(kind, count)| (kind.to_string(), (*count).into())).collect();
        let first = totals.first_failure.as_ref().map(|failure| {
            serde_json::json!({
                "seed": failure.seed,
                "violation": failure.violation.to_string(),
                "replay": replay(failure.seed),
            })
        });
        let object = serde_json::json!({
            "seeds": options.seeds,
            "start": options.start,
            "threads": options.threads,
            "mutation": options.mutation.map(mutation_name),
            "passed": totals.passed,
            "failures": totals.failures,
            "seconds": seconds,
            "seeds_per_s": seeds_per_s,
            "heights_committed": totals.heights,
            "txs_committed": totals.txs,
            "faults": faults,
            "first_failure": first,
        });
        println!("{object}");
    } else {
        println!(
            "{} seeds from {} in {seconds:.1} s ({seeds_per_s:.1} seeds/s, {} threads): {} passed, {} failed",
            options.seeds, options.start, options.threads, totals.passed, totals.failures
        );
        println!("faults exercised:");
        for (kind, count) in &totals.faults {
            println!("  {kind:<36} {count}");
        }
        if let Some(failure) = &totals.first_failure {
            println!("first failing seed {}: {}\nreplay: {}", failure.seed, failure.violation, replay(failure.seed));
        }
    }
    if totals.failures > 0 {
        std::process::exit(1);
    }
}

fn mutation_name(mutation: Mutation) -> &'static str {
    match mutation {
        Mutation::NoLocking => "no-locking",
        Mutation::SkipSafetyPersist => "skip-safety-persist",
        Mutation::WrongHighestPrepared => "wrong-highest-prepared",
        Mutation::BlameRelays => "blame-relays",
        Mutation::TrustClaimedHeights => "trust-claimed-heights",
        Mutation::UnboundedFutureBuffer => "unbounded-future-buffer",
    }
}
