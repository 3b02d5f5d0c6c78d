//! Test hosts with their own addresses on one machine: one Linux network namespace per host, each
//! joined by a veth pair to a bridge in a namespace of its own (the switch: the machine's own firewall,
//! which may drop bridged traffic, does not apply there), and the faults a network has between hosts:
//! partitions (nftables rules dropping what a host receives), links down, bandwidth limits (`tbf`).
//! The harness watches from an observer host that no fault touches ([`Hosts::enter_observer`]).
//!
//! Needs root (`ip netns`, `nft`, `tc` from `scripts/prereqs.sh`). Namespaces are named after the
//! harness's process id and removed on drop; [`Hosts::create`] first removes any left by a harness
//! that was killed.

use std::fs::File;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

/// Every namespace this module creates is named `cvf<pid>-<host>`.
const PREFIX: &str = "cvf";
/// The nftables table each host's fault rules live in.
const FAULT_TABLE: &str = "covenant_faults";

/// One host: a network namespace with one interface, `eth0`, and one IPv4 address.
#[derive(Clone, Debug)]
pub struct Host {
    /// The caller's name for it, e.g. `n0` or `c2`.
    pub label: String,
    /// The network namespace (`ip netns exec <netns> ...`).
    pub netns: String,
    /// Its address on the test network.
    pub address: Ipv4Addr,
}

/// A test network of hosts on one bridge.
#[derive(Debug)]
pub struct Hosts {
    /// The namespace holding the bridge.
    switch: String,
    hosts: Vec<Host>,
    /// The harness's own host on the test network.
    observer: Host,
}

/// Runs `program args` and returns its stdout; the error names the command and what it printed.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("{program} {}: {error}", args.join(" ")))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn must(program: &str, args: &[&str]) -> String {
    run(program, args).unwrap_or_else(|error| panic!("{error}"))
}

/// Whether this process may create network namespaces (root, with `ip` and `nft` installed).
pub fn available() -> Result<(), String> {
    // The owner of /proc/self is the process's effective user.
    let euid =
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").map_err(|error| error.to_string())?);
    if euid != 0 {
        return Err("the multi-host tests need root (network namespaces, nftables, tc)".into());
    }
    for (program, arg) in [("ip", "-V"), ("nft", "--version"), ("tc", "-V")] {
        run(program, &[arg]).map_err(|error| format!("{error}: run scripts/prereqs.sh"))?;
    }
    Ok(())
}

/// Removes namespaces left by harness processes that no longer run.
fn remove_stale() {
    let alive = |pid: &str| pid.parse::<i32>().is_ok_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
    let namespaces = run("ip", &["netns", "list"]).unwrap_or_default();
    for line in namespaces.lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        if let Some(rest) = name.strip_prefix(PREFIX)
            && let Some((pid, _)) = rest.split_once('-')
            && !alive(pid)
        {
            let _ = run("ip", &["netns", "del", name]);
        }
    }
}

impl Hosts {
    /// Creates one host per label on a fresh /24 (10.77.k.0, k from the process id): host `i` gets
    /// address `.10 + i`, the observer `.1`.
    pub fn create(labels: &[&str]) -> Hosts {
        available().unwrap_or_else(|error| panic!("{error}"));
        assert!(labels.len() <= 200, "at most 200 hosts");
        remove_stale();
        let pid = std::process::id();
        let subnet = 20 + (pid % 200) as u8;
        let netns = |label: &str| format!("{PREFIX}{pid}-{label}");
        let switch = netns("switch");
        must("ip", &["netns", "add", &switch]);
        let observer =
            Host { label: "observer".into(), netns: netns("observer"), address: Ipv4Addr::new(10, 77, subnet, 1) };
        // From here on, dropping `hosts` removes whatever was made.
        let mut hosts = Hosts { switch: switch.clone(), hosts: Vec::new(), observer: observer.clone() };
        must("ip", &["-n", &switch, "link", "add", "br0", "type", "bridge"]);
        must("ip", &["-n", &switch, "link", "set", "br0", "up"]);
        hosts.attach(&observer, "obs");
        for (index, label) in labels.iter().enumerate() {
            let host = Host {
                label: label.to_string(),
                netns: netns(label),
                address: Ipv4Addr::new(10, 77, subnet, 10 + index as u8),
            };
            hosts.hosts.push(host.clone());
            hosts.attach(&host, &format!("h{index}"));
            hosts.nft(
                index,
                &format!(
                    "add table inet {FAULT_TABLE}\n\
                     add chain inet {FAULT_TABLE} input {{ type filter hook input priority 0; policy accept; }}"
                ),
            );
        }
        hosts
    }

    /// Creates `host`'s namespace and plugs it into the switch with a veth pair (`port` on the switch's
    /// side, `eth0` on the host's).
    fn attach(&self, host: &Host, port: &str) {
        must("ip", &["netns", "add", &host.netns]);
        must(
            "ip",
            &["link", "add", port, "netns", &self.switch, "type", "veth", "peer", "name", "eth0", "netns", &host.netns],
        );
        must("ip", &["-n", &self.switch, "link", "set", port, "master", "br0", "up"]);
        must("ip", &["-n", &host.netns, "addr", "add", &format!("{}/24", host.address), "dev", "eth0"]);
        must("ip", &["-n", &host.netns, "link", "set", "eth0", "up"]);
        must("ip", &["-n", &host.netns, "link", "set", "lo", "up"]);
    }

    /// The hosts, in the order of [`Hosts::create`]'s labels.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// Host `index`.
    pub fn host(&self, index: usize) -> &Host {
        &self.hosts[index]
    }

    /// The harness's own host on the test network, which no fault cuts off.
    pub fn observer(&self) -> &Host {
        &self.observer
    }

    /// Moves the calling thread into the observer host, from where it reaches every host.
    pub fn enter_observer(&self) {
        enter_netns(&self.observer.netns);
    }

    /// A command that runs `program` inside host `index`.
    pub fn command(&self, index: usize, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.hosts[index].netns]).arg(program);
        command
    }

    /// Moves the calling thread into host `index`'s network: every socket it opens afterwards is the
    /// host's. (A thread's network namespace is its own; other threads are not affected.)
    pub fn enter(&self, index: usize) {
        enter_netns(&self.hosts[index].netns);
    }

    fn ip(&self, index: usize, args: &[&str]) {
        let mut full = vec!["-n", self.hosts[index].netns.as_str()];
        full.extend_from_slice(args);
        must("ip", &full);
    }

    fn nft(&self, index: usize, script: &str) {
        must("ip", &["netns", "exec", &self.hosts[index].netns, "nft", script]);
    }

    /// Host `to` stops receiving anything host `from` sends (a one-way cut: `to`'s packets still reach
    /// `from`). Dropped on arrival, as a lossy network would, not refused at the sender.
    pub fn cut_one_way(&self, from: usize, to: usize) {
        let source = self.hosts[from].address;
        self.nft(to, &format!("add rule inet {FAULT_TABLE} input ip saddr {source} drop"));
    }

    /// Cuts every host of each group off from every host of the other groups, both ways; hosts in no
    /// group (and the harness) keep reaching everyone.
    pub fn partition(&self, groups: &[&[usize]]) {
        for (side, group) in groups.iter().enumerate() {
            for other in groups.iter().skip(side + 1) {
                for a in group.iter() {
                    for b in other.iter() {
                        self.cut_one_way(*a, *b);
                        self.cut_one_way(*b, *a);
                    }
                }
            }
        }
    }

    /// Removes every cut.
    pub fn heal(&self) {
        for index in 0..self.hosts.len() {
            self.nft(index, &format!("flush chain inet {FAULT_TABLE} input"));
        }
    }

    /// Takes host `index`'s interface down or up (a pulled cable).
    pub fn set_link(&self, index: usize, up: bool) {
        self.ip(index, &["link", "set", "eth0", if up { "up" } else { "down" }]);
    }

    /// Limits what host `index` sends to `kbit_per_s` (a token bucket; the rest queues, up to
    /// `queue_ms` of it, then drops).
    pub fn limit_bandwidth(&self, index: usize, kbit_per_s: u64, queue_ms: u64) {
        let netns = &self.hosts[index].netns;
        must(
            "tc",
            &[
                "-n",
                netns,
                "qdisc",
                "replace",
                "dev",
                "eth0",
                "root",
                "tbf",
                "rate",
                &format!("{kbit_per_s}kbit"),
                "burst",
                "32kb",
                "latency",
                &format!("{queue_ms}ms"),
            ],
        );
    }

    /// Removes host `index`'s bandwidth limit.
    pub fn unlimit_bandwidth(&self, index: usize) {
        let _ = run("tc", &["-n", &self.hosts[index].netns, "qdisc", "del", "dev", "eth0", "root"]);
    }
}

/// Moves the calling thread into the network namespace named `netns` (`ip netns` names).
pub fn enter_netns(netns: &str) {
    let path = format!("/var/run/netns/{netns}");
    let file = File::open(&path).unwrap_or_else(|error| panic!("opening {path}: {error}"));
    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET)
        .unwrap_or_else(|error| panic!("entering network namespace {netns}: {error}"));
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for host in self.hosts.iter().chain([&self.observer]) {
            let _ = run("ip", &["netns", "del", &host.netns]);
        }
        let _ = run("ip", &["netns", "del", &self.switch]);
    }
}
