//! The mirror side as a child process: running the real `notion-mirror` binary (`sync` to
//! its end, `run` as a `Daemon`), and reading its CPU, RSS and storage writes from `/proc`.
//! Invariant: every child has a deadline (`run_to_end`) or is killed when its `Daemon` is
//! dropped, so no child outlives the bench.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use notion_mirror::sim::Sim;

/// Bytes in a MiB, for the memory figures.
pub(crate) const MIB: f64 = 1024.0 * 1024.0;

/// The `notion-mirror` binary cargo built for this bench.
fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_notion-mirror")
}

/// `notion-mirror <sub>` against `sim`, mirror in `dir`, output to `log` (clean env).
pub(crate) fn mirror_cmd(sim: &Sim, dir: &Path, sub: &str, log: &Path) -> Result<Command> {
    let out = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut c = Command::new(binary());
    c.arg(sub)
        .env_clear()
        .env("HOME", dir)
        .env("NOTION_TOKEN", sim.token())
        .env("NOTION_API_URL", sim.base_url())
        .env("NOTION_MIRROR_DB", dir.join("mirror.db"))
        .env("NOTION_MIRROR_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out));
    Ok(c)
}

/// The last 12 lines of a child's log, for error messages.
pub(crate) fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(12);
    lines[start..].join("\n    ")
}

/// User + system CPU seconds a process has used so far.
pub(crate) fn cpu_secs(pid: u32) -> f64 {
    stat_cpu_secs(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default())
}

/// CPU seconds of the thread of `pid` named `name` (e.g. `mirror-writer`).
pub(crate) fn thread_cpu_secs(pid: u32, name: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            return stat_cpu_secs(&stat);
        }
    }
    0.0
}

/// utime + stime of a `/proc/.../stat` line, in seconds (USER_HZ = 100 on Linux).
fn stat_cpu_secs(stat: &str) -> f64 {
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Bytes a process caused to be written to storage (`write_bytes` of `/proc/<pid>/io`).
pub(crate) fn written_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("write_bytes:")?.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// `VmHWM` / `VmRSS` of a process in KiB.
pub(crate) fn proc_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// How a one-shot command ended.
pub(crate) struct Finished {
    pub(crate) status: ExitStatus,
    pub(crate) wall: Duration,
    /// The last VmHWM read before the process exited.
    pub(crate) peak_kib: Option<u64>,
}

/// Runs a one-shot command to its end (blocking), polling VmHWM every 50 ms.
pub(crate) fn run_to_end(
    mut cmd: Command,
    limit: Duration,
    what: &str,
    log: &Path,
) -> Result<Finished> {
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {}", binary()))?;
    let pid = child.id();
    let mut peak = None;
    let mut last_poll = Instant::now() - Duration::from_secs(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Finished {
                status,
                wall: started.elapsed(),
                peak_kib: peak,
            });
        }
        if last_poll.elapsed() >= Duration::from_millis(50) {
            if let Some(kib) = proc_kib(pid, "VmHWM:") {
                peak = Some(kib);
            }
            last_poll = Instant::now();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{what} did not finish within {limit:?}; log tail:\n    {}",
                log_tail(log)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// [`run_to_end`] off the async runtime, failing (with the log's tail) unless the command
/// exits 0.
pub(crate) async fn run_to_success(
    cmd: Command,
    limit: Duration,
    what: &'static str,
    log: &Path,
) -> Result<Finished> {
    let log_owned = log.to_path_buf();
    let run =
        tokio::task::spawn_blocking(move || run_to_end(cmd, limit, what, &log_owned)).await??;
    if !run.status.success() {
        bail!(
            "{what} exited with {}; log tail:\n    {}",
            run.status,
            log_tail(log)
        );
    }
    Ok(run)
}

/// A running `notion-mirror run`; killed on drop if still alive.
pub(crate) struct Daemon {
    child: Child,
    log: PathBuf,
}

impl Daemon {
    pub(crate) fn spawn(
        sim: &Sim,
        dir: &Path,
        addr: &str,
        log_name: &str,
        env: &[(&str, String)],
    ) -> Result<Daemon> {
        Daemon::spawn_limited(sim, dir, addr, log_name, env, None)
    }

    /// Like [`Daemon::spawn`], with `RLIMIT_NOFILE` (soft and hard) set to `fd_limit` in
    /// the child before it execs, as a service manager's default limit would be.
    pub(crate) fn spawn_limited(
        sim: &Sim,
        dir: &Path,
        addr: &str,
        log_name: &str,
        env: &[(&str, String)],
        fd_limit: Option<u64>,
    ) -> Result<Daemon> {
        let log = dir.join(log_name);
        let mut cmd = mirror_cmd(sim, dir, "run", &log)?;
        cmd.env("NOTION_MIRROR_LISTEN", addr);
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(limit) = fd_limit {
            use std::os::unix::process::CommandExt as _;
            // SAFETY: between fork and exec only setrlimit (one system call) runs.
            unsafe {
                cmd.pre_exec(move || {
                    nix::sys::resource::setrlimit(
                        nix::sys::resource::Resource::RLIMIT_NOFILE,
                        limit,
                        limit,
                    )
                    .map_err(std::io::Error::from)
                });
            }
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {} run", binary()))?;
        Ok(Daemon { child, log })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the "notion-mirror running" log line (after the token check).
    pub(crate) async fn wait_running(&mut self, limit: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if text.contains("notion-mirror running") {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "`notion-mirror run` exited at start-up ({status}); log tail:\n    {}",
                    log_tail(&self.log)
                );
            }
            if start.elapsed() > limit {
                bail!(
                    "`notion-mirror run` did not log `notion-mirror running` within {limit:?}; log tail:\n    {}",
                    log_tail(&self.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) fn alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "`notion-mirror run` died ({status}); log tail:\n    {}",
                log_tail(&self.log)
            );
        }
        Ok(())
    }

    /// SIGTERM, then waits for a clean exit.
    pub(crate) async fn terminate(mut self, limit: Duration) -> Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "`notion-mirror run` had already exited ({status}); log tail:\n    {}",
                log_tail(&self.log)
            );
        }
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)
            .context("cannot send SIGTERM to the daemon")?;
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if start.elapsed() > limit {
                bail!(
                    "`notion-mirror run` did not stop within {limit:?} of SIGTERM; log tail:\n    {}",
                    log_tail(&self.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A free port on 127.0.0.1 for the daemon to listen on.
pub(crate) fn free_addr() -> Result<String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.to_string())
}
