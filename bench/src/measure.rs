//! Running a command and what the kernel says of it: wall time, peak RSS
//! (wait4's ru_maxrss), and what it printed (counted and hashed, not kept).

use std::hash::Hasher;
use std::io::{Read, Seek};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One finished run.
#[derive(Debug, Clone)]
pub struct Measured {
    pub wall: Duration,
    pub peak_rss_kib: u64,
    pub stdout_lines: u64,
    /// A hash of stdout, to compare outputs without keeping them.
    pub stdout_hash: u64,
    /// The first 64 KiB of stdout, for commands that report in JSON.
    pub stdout_head: String,
}

/// This program, whose `rusage` command starts the measured ones. Their
/// peak RSS must come from a small parent: a child started straight from
/// the driver (which holds the whole dataset) inherits the driver's RSS as
/// its `ru_maxrss` floor, because Linux carries the high-water mark of the
/// address space a process `exec`s from.
static LAUNCHER: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

pub fn set_launcher(path: std::path::PathBuf) {
    let _ = LAUNCHER.set(path);
}

/// `apiconn-bench rusage --report FILE -- PROGRAM ARGS…`: runs the program
/// with this process's stdio, writes its peak RSS (KiB) to FILE, and exits
/// as it did.
pub fn rusage(report: &std::path::Path, program: &[std::ffi::OsString]) -> anyhow::Result<i32> {
    let child = Command::new(&program[0]).args(&program[1..]).spawn()?;
    let (status, peak) = wait_with_peak_rss(child.id());
    std::fs::write(report, peak.to_string())?;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

/// `cmd`, started through the launcher when there is one: the command and
/// where the launcher will report the peak RSS.
fn launched(cmd: &Command, report: &std::path::Path) -> Command {
    let Some(launcher) = LAUNCHER.get() else {
        panic!("measure::set_launcher was not called");
    };
    let mut outer = Command::new(launcher);
    outer
        .arg("rusage")
        .arg("--report")
        .arg(report)
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (name, value) in cmd.get_envs() {
        match value {
            Some(v) => outer.env(name, v),
            None => outer.env_remove(name),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        outer.current_dir(dir);
    }
    outer
}

/// Runs `cmd` to its end; fails with its stderr if it fails.
pub fn run(cmd: &mut Command) -> anyhow::Result<Measured> {
    let shown = format!("{cmd:?}");
    let report = tempfile::NamedTempFile::new()?;
    let mut cmd = launched(cmd, report.path());
    let started = Instant::now();
    // Output goes to a file, as in a pipeline that lands records on disk:
    // no pipe for the driver to drain while the clock runs.
    let mut stdout = tempfile::tempfile()?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(stdout.try_clone()?)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| anyhow::anyhow!("starting {shown}: {e}"))?;
    let mut stderr = child.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = child.wait()?;
    let wall = started.elapsed();
    let errors = errors.join().unwrap_or_default();
    anyhow::ensure!(status.success(), "{shown} failed ({status}):\n{errors}");
    let peak_rss_kib = std::fs::read_to_string(report.path())?.trim().parse()?;
    // What it printed, read back after the clock stopped.
    let (mut lines, mut hash, mut head) = (0u64, std::hash::DefaultHasher::new(), Vec::new());
    let mut buf = vec![0; 1 << 16];
    stdout.rewind()?;
    loop {
        let n = stdout.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        hash.write(chunk);
        if head.len() < 1 << 16 {
            head.extend_from_slice(chunk);
        }
    }
    Ok(Measured {
        wall,
        peak_rss_kib,
        stdout_lines: lines,
        stdout_hash: hash.finish(),
        stdout_head: String::from_utf8_lossy(&head).into_owned(),
    })
}

/// Waits for child `pid`; its exit status and peak RSS in KiB.
fn wait_with_peak_rss(pid: u32) -> (std::process::ExitStatus, u64) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid as libc::pid_t, "wait4 failed");
    (
        std::process::ExitStatus::from_raw(status),
        usage.ru_maxrss.max(0) as u64,
    )
}

/// Runs `make()`'s command `times` times; the run with the median wall time.
pub fn median(times: usize, make: impl Fn() -> Command) -> anyhow::Result<Measured> {
    let [m] = interleaved(times, [&make], |_, _| Ok(()))?;
    Ok(m)
}

/// Runs each of the commands `times` times, taking turns (a slow spell of
/// the machine then falls on all of them alike); after each run, `check`
/// sees which command it was and what it measured. The median run of each.
pub fn interleaved<const K: usize>(
    times: usize,
    makers: [&dyn Fn() -> Command; K],
    mut check: impl FnMut(usize, &Measured) -> anyhow::Result<()>,
) -> anyhow::Result<[Measured; K]> {
    let mut runs: [Vec<Measured>; K] = std::array::from_fn(|_| vec![]);
    for _ in 0..times.max(1) {
        for (k, make) in makers.iter().enumerate() {
            let m = run(&mut make())?;
            check(k, &m)?;
            runs[k].push(m);
        }
    }
    Ok(runs.map(|mut r| {
        r.sort_by_key(|m| m.wall);
        r.swap_remove(r.len() / 2)
    }))
}

/// `VmRSS` and `VmHWM` of this process, in KiB.
pub fn own_rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
