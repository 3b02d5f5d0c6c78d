//! `fault-suite`: runs the multi-host fault scenarios (`covenant_tests::scenarios`) and writes one
//! JSON object with a result per scenario. Needs root. `scripts/fault-suite.sh` builds and runs it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use serde_json::json;

use covenant_tests::scenarios;

/// Runs the multi-host fault scenarios against real `covenant node` processes.
#[derive(Parser)]
struct Args {
    /// Where to write the JSON results.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Run only these scenarios (repeatable; default: all).
    #[arg(long = "scenario", value_name = "NAME")]
    scenarios: Vec<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let all = scenarios::all();
    let names: Vec<&str> = all.iter().map(|scenario| scenario.name).collect();
    if let Some(unknown) = args.scenarios.iter().find(|name| !names.contains(&name.as_str())) {
        eprintln!("fault-suite: no scenario {unknown:?}; there are: {}", names.join(", "));
        return ExitCode::from(2);
    }
    if let Err(error) = covenant_tests::hosts::available() {
        eprintln!("fault-suite: {error}");
        return ExitCode::from(2);
    }
    let chosen: Vec<&scenarios::Scenario> = all
        .iter()
        .filter(|scenario| args.scenarios.is_empty() || args.scenarios.iter().any(|name| name == scenario.name))
        .collect();
    let mut results = Vec::new();
    for scenario in chosen {
        results.push(scenarios::run(scenario));
        // Written after every scenario, so that a suite cut short still leaves what it found.
        let passed = results.iter().all(|result| result.passed);
        let report = json!({
            "passed": passed,
            "scenarios": results.iter().map(scenarios::ScenarioResult::to_json).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&report).expect("JSON") + "\n";
        if let Err(error) = std::fs::write(&args.out, text) {
            eprintln!("fault-suite: writing {}: {error}", args.out.display());
            return ExitCode::from(2);
        }
    }
    let failed: Vec<&str> = results.iter().filter(|result| !result.passed).map(|result| result.name.as_str()).collect();
    eprintln!(
        "fault-suite: {} of {} scenarios passed; results in {}",
        results.len() - failed.len(),
        results.len(),
        args.out.display()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("fault-suite: failed: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}
