//! cargo's target runner during `scripts/test.sh`: runs one test binary with libtest's JSON output, keeps
//! every test event in `$COVENANT_TEST_RECORD_DIR/<binary file name>.jsonl` (the record `covenant report
//! --results` reads), and prints the usual `test NAME ... ok` lines, failures with their output, and the
//! summary, so the console reads as without it. Exits with the test binary's exit code.
//!
//! libtest's JSON output is unstable on a stable toolchain: `RUSTC_BOOTSTRAP=1` lets the test binary
//! accept `-Z unstable-options --format json` (set only for it, never for a compiler). A binary that is
//! not a libtest harness (a criterion bench run as a test), or a run without a record directory, is run
//! unchanged.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use serde_json::Value;

/// The environment variable naming the record directory.
const RECORD_DIR_ENV: &str = "COVENANT_TEST_RECORD_DIR";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(binary) = args.next().map(PathBuf::from) else {
        eprintln!("test-recorder: usage: test-recorder TEST-BINARY [ARGS...] (as cargo's target runner)");
        return ExitCode::from(2);
    };
    let rest: Vec<_> = args.collect();
    let record_dir = std::env::var_os(RECORD_DIR_ENV).map(PathBuf::from);
    let status = match record_dir {
        Some(dir) if is_libtest(&binary) => run_recorded(&binary, &rest, &dir),
        _ => Command::new(&binary).args(&rest).status(),
    };
    match status {
        Ok(status) => ExitCode::from(status.code().map_or(101, |code| u8::try_from(code).unwrap_or(101))),
        Err(error) => {
            eprintln!("test-recorder: cannot run {}: {error}", binary.display());
            ExitCode::from(101)
        }
    }
}

/// Whether `binary` is a libtest harness: its help names libtest's output formats.
fn is_libtest(binary: &Path) -> bool {
    Command::new(binary)
        .arg("--help")
        .env("RUSTC_BOOTSTRAP", "1")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).contains("pretty|terse|json"))
}

fn run_recorded(binary: &Path, args: &[std::ffi::OsString], dir: &Path) -> std::io::Result<std::process::ExitStatus> {
    std::fs::create_dir_all(dir)?;
    let name = binary.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let mut record = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(format!("{name}.jsonl")))?;
    let mut child = Command::new(binary)
        .args(args)
        .args(["-Z", "unstable-options", "--format", "json", "--report-time"])
        .env("RUSTC_BOOTSTRAP", "1")
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().expect("piped");
    let mut console = Console::default();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        match serde_json::from_str::<Value>(&line) {
            Ok(event) if event.get("type").is_some() => {
                writeln!(record, "{line}")?;
                console.show(&event);
            }
            _ => println!("{line}"),
        }
    }
    record.flush()?;
    child.wait()
}

/// Prints libtest's JSON events as its human output.
#[derive(Default)]
struct Console {
    failures: Vec<(String, String)>,
}

impl Console {
    fn show(&mut self, event: &Value) {
        let text = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
        match (text("type").as_str(), text("event").as_str()) {
            ("suite", "started") => {
                println!("\nrunning {} tests", event.get("test_count").and_then(Value::as_u64).unwrap_or(0))
            }
            ("test", "ok") => println!("test {} ... ok", text("name")),
            ("test", "ignored") => println!("test {} ... ignored", text("name")),
            ("test", "failed") | ("test", "timeout") => {
                println!("test {} ... FAILED", text("name"));
                self.failures.push((text("name"), text("stdout")));
            }
            ("suite", "ok") | ("suite", "failed") => {
                if !self.failures.is_empty() {
                    println!("\nfailures:");
                    for (name, output) in &self.failures {
                        println!("\n---- {name} stdout ----\n{output}");
                    }
                    println!("\nfailures:");
                    for (name, _) in &self.failures {
                        println!("    {name}");
                    }
                }
                let count = |key: &str| event.get(key).and_then(Value::as_u64).unwrap_or(0);
                println!(
                    "\ntest result: {}. {} passed; {} failed; {} ignored; {} filtered out; finished in {:.2}s\n",
                    if text("event") == "ok" { "ok" } else { "FAILED" },
                    count("passed"),
                    count("failed"),
                    count("ignored"),
                    count("filtered_out"),
                    event.get("exec_time").and_then(Value::as_f64).unwrap_or(0.0)
                );
                self.failures.clear();
            }
            _ => {}
        }
    }
}
