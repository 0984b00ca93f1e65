//! Hostile clients against the real server on loopback (docs/threat-model.md): requests
//! that never finish are closed at the deadline; 2,000 of them held open under a 1,024
//! descriptor limit neither starve `/healthz` nor stop a signed event from being
//! mirrored; a planted pid-file symlink is refused and `resync` refuses pids 0 and -1;
//! signed events with made-up types cannot grow `/metrics`, forge log lines or `status`
//! lines; a second unsigned verification token does not replace the first pending one;
//! `Expect: 100-continue` with an oversized body gets 413 and HTTP/2 prior knowledge a
//! GOAWAY; `/healthz` fails while commits fail.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notion_mirror::config::{Config, HttpLimits, Secret};
use notion_mirror::sim::{GenConfig, Knobs, Mutation, Sim};
use notion_mirror::webhook::signature;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SECRET: &str = "secret_hostile";

fn event(id: &str, kind: &str, entity_id: &str) -> Value {
    json!({
        "id": id, "timestamp": "2026-11-23T10:00:00.000Z", "workspace_id": "w",
        "subscription_id": "s", "integration_id": "i", "type": kind,
        "authors": [{"id": "u", "type": "person"}], "attempt_number": 1,
        "api_version": "2025-09-03", "entity": {"id": entity_id, "type": "page"},
        "data": {"parent": {"id": "p", "type": "space"}}
    })
}

async fn post_signed(client: &reqwest::Client, url: &str, body: &Value) -> u16 {
    let body = body.to_string();
    client
        .post(url)
        .header("content-type", "application/json")
        .header(
            "X-Notion-Signature",
            signature::sign(SECRET, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

async fn post_unsigned(client: &reqwest::Client, url: &str, body: &str) -> u16 {
    client
        .post(url)
        .body(body.to_string())
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Everything the server sends on `stream` until it closes it (bounded by `limit`).
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Result<Vec<u8>, String> {
    let mut seen = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    };
    match tokio::time::timeout(limit, read).await {
        Ok(()) => Ok(seen),
        Err(_) => Err(format!(
            "still open after {limit:?}; got {:?}",
            String::from_utf8_lossy(&seen)
        )),
    }
}

/// An in-process daemon with the verification token set and short HTTP deadlines.
async fn daemon(
    sim: &Sim,
    dir: &Path,
    limits: HttpLimits,
) -> (Config, notion_mirror::daemon::Daemon) {
    let mut config = common::config(sim, dir);
    config.webhook_token = Some(Secret::new(SECRET));
    config.http = limits;
    let daemon = common::start_daemon(&config).await;
    (config, daemon)
}

fn short_deadlines() -> HttpLimits {
    HttpLimits {
        max_connections: 64,
        request_deadline: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(2),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_never_finish_are_closed_at_the_deadline() {
    let sim = common::sim(GenConfig::small(181), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let (_config, daemon) = daemon(&sim, dir.path(), short_deadlines()).await;
    let open = |first: &'static [u8]| {
        let addr = daemon.addr;
        async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            if !first.is_empty() {
                s.write_all(first).await.unwrap();
            }
            s
        }
    };
    let started = Instant::now();
    let mut incomplete_body =
        open(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{").await;
    let mut unfinished_chunks = open(
        b"POST /webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n",
    )
    .await;
    let mut partial_headers = open(b"POST /webhook HTTP/1.1\r\nHost: x\r\n").await;
    let mut silent = open(b"").await;
    let mut keep_alive = open(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let limit = Duration::from_secs(20);
    for (what, stream) in [
        ("incomplete body", &mut incomplete_body),
        ("unfinished chunked body", &mut unfinished_chunks),
    ] {
        let answer = read_until_closed(stream, limit).await.unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{what}: {answer}");
    }
    read_until_closed(&mut partial_headers, limit)
        .await
        .unwrap();
    read_until_closed(&mut silent, limit).await.unwrap();
    let answer = read_until_closed(&mut keep_alive, limit).await.unwrap();
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "closed by the deadline, not at once ({:?})",
        started.elapsed()
    );
    let metrics = common::http()
        .get(format!("http://{}/metrics", daemon.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("notion_mirror_http_connections_closed_total{reason=\"deadline\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("notion_mirror_webhook_rejected_total{reason=\"timeout\"} 2"),
        "{metrics}"
    );
    daemon.stop().await;
}

// ---- a child daemon under a 1,024 descriptor limit --------------------------------------

/// `notion-mirror run` as a child process, its log lines collected; killed on drop.
struct ChildDaemon {
    child: Child,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl ChildDaemon {
    fn spawn(sim: &Sim, dir: &Path, config_toml: &str, fd_limit: Option<u64>) -> ChildDaemon {
        let addr = free_port();
        let config = dir.join("config.toml");
        std::fs::write(&config, config_toml).unwrap();
        let mut cmd = Command::new(common::binary());
        cmd.arg("run")
            .env_clear()
            .env("HOME", dir)
            .env("NOTION_TOKEN", sim.token())
            .env("NOTION_API_URL", sim.base_url())
            .env("NOTION_MIRROR_DB", dir.join("mirror.db"))
            .env("NOTION_MIRROR_LISTEN", &addr)
            .env("NOTION_MIRROR_CONFIG", &config)
            .env("NOTION_MIRROR_RATE", "500")
            // No sweep during the test: what reaches the mirror came through the webhook.
            .env("NOTION_MIRROR_INCREMENTAL", "0 0 0 1 1 *")
            .env("NOTION_WEBHOOK_TOKEN", SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(limit) = fd_limit {
            // SAFETY: between fork and exec only setrlimit (a plain system call) runs.
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
        let mut child = cmd.spawn().expect("the binary starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        ChildDaemon { child, addr, log }
    }

    fn logged(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }

    async fn wait_logged(&self, needle: &str) {
        let start = Instant::now();
        while !self.logged(needle) {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no log line with {needle:?}; log:\n{}",
                self.log.lock().unwrap().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ChildDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// The soft and hard "Max open files" of a process, from `/proc/<pid>/limits`.
fn fd_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_string();
    let mut fields = line.split_whitespace().skip(3);
    (
        fields.next().unwrap().to_string(),
        fields.next().unwrap().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_event_is_mirrored_while_2000_incomplete_bodies_are_held_under_1024_descriptors() {
    let sim = common::sim(GenConfig::small(182), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    // A long deadline: what keeps the daemon available here is the connection cap.
    let toml = "[http]\nrequest_deadline_secs = 300\n";
    let daemon = ChildDaemon::spawn(&sim, dir.path(), toml, Some(1024));
    daemon.wait_logged("notion-mirror running").await;
    assert_eq!(fd_limits(daemon.child.id()), ("1024".into(), "1024".into()));
    let config = common::config(&sim, dir.path());
    common::wait_sweeps(&config, "full", 1).await;

    // 2,000 connections, each with its headers sent and its body never finished.
    let mut held = Vec::new();
    for i in 0..2000 {
        let connect = TcpStream::connect(&daemon.addr);
        let mut s = tokio::time::timeout(Duration::from_secs(10), connect)
            .await
            .unwrap_or_else(|_| panic!("connection {i} not accepted within 10 s"))
            .unwrap();
        s.write_all(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
            .await
            .unwrap();
        held.push(s);
    }
    let _ = common::http();
    // A fresh connection per request, as Notion's deliveries come: a keep-alive connection
    // left idle is the first one the cap closes when the held ones still queued in the
    // listen backlog are accepted.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let base = format!("http://{}", daemon.addr);
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    let page = sim.read(|ws| ws.find_page_by_title("Roadmap")).unwrap();
    sim.mutate(Mutation::RenamePage {
        page_id: page.clone(),
        title: "Renamed under siege".into(),
    })
    .unwrap();
    let body = event(
        "18181818-0000-4000-8000-000000000001",
        "page.properties_updated",
        &page,
    );
    assert_eq!(
        post_signed(&client, &format!("{base}/webhook"), &body).await,
        200
    );
    let c = config.clone();
    let id = page.clone();
    common::wait_for(
        "the renamed page in the mirror",
        Duration::from_secs(30),
        || {
            let (c, id) = (c.clone(), id.clone());
            async move {
                common::open(&c)
                    .query_row("select title from pages where id = ?1", [&id], |r| {
                        r.get::<_, String>(0)
                    })
                    .is_ok_and(|t| t == "Renamed under siege")
            }
        },
    )
    .await;
    let metrics = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let open: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("notion_mirror_http_connections "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(open <= 512.0 + 64.0, "connections held: {open}");
    assert!(
        metrics.contains("notion_mirror_http_connections_closed_total{reason=\"evicted\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("notion_mirror_mirror_failed_commits_total 0"),
        "{metrics}"
    );
    assert!(
        !daemon.logged("Too many open files"),
        "{}",
        daemon.log.lock().unwrap().join("\n")
    );
    drop(held);
}

// ---- the pid file and resync ----------------------------------------------------------

fn run_to_exit(cmd: &mut Command, limit: Duration) -> (Option<i32>, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            return (status.code(), text);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_pid_file_symlink_is_refused_and_never_written_through() {
    let sim = common::sim(GenConfig::small(183), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join("notion-mirror.pid")).unwrap();
    let (code, output) = run_to_exit(
        Command::new(common::binary())
            .arg("run")
            .env_clear()
            .env("HOME", dir.path())
            .env("NOTION_TOKEN", sim.token())
            .env("NOTION_API_URL", sim.base_url())
            .env("NOTION_MIRROR_DB", dir.path().join("mirror.db"))
            .env("NOTION_MIRROR_LISTEN", free_port()),
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("symbolic link"), "{output}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert!(
        !dir.path().join("mirror.db").exists(),
        "refused before opening the mirror"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pid_file_is_private_and_locked_under_a_permissive_umask() {
    let sim = common::sim(GenConfig::small(184), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("fresh/state");
    let mut cmd = Command::new(common::binary());
    cmd.arg("run")
        .env_clear()
        .env("HOME", dir.path())
        .env("NOTION_TOKEN", sim.token())
        .env("NOTION_API_URL", sim.base_url())
        .env("NOTION_MIRROR_DB", state.join("mirror.db"))
        .env("NOTION_MIRROR_RATE", "500")
        .env("NOTION_MIRROR_LISTEN", free_port());
    // SAFETY: only umask (a plain system call) runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    let mut first = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid_path = state.join("notion-mirror.pid");
    common::wait_for("the pid file", Duration::from_secs(30), || {
        let p = pid_path.clone();
        async move { std::fs::read_to_string(&p).is_ok_and(|t| t.ends_with('\n')) }
    })
    .await;
    let mode = |p: &PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&pid_path), 0o600);
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&dir.path().join("fresh")), 0o700);
    assert_eq!(
        std::fs::read_to_string(&pid_path).unwrap().trim(),
        first.id().to_string()
    );
    // A second daemon on the same mirror is refused.
    let (code, output) = run_to_exit(&mut cmd, Duration::from_secs(30));
    assert_eq!(code, Some(1), "{output}");
    assert!(output.contains("already runs on this mirror"), "{output}");
    // Stopped once idle, so the graceful stop is quick.
    let config = common::config(&sim, &state);
    common::wait_sweeps(&config, "full", 1).await;
    let _ = Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status();
    assert!(first.wait().unwrap().success());
    assert!(!pid_path.exists());
}

#[test]
fn resync_refuses_pid_files_naming_0_or_minus_1() {
    let dir = tempfile::tempdir().unwrap();
    let pid_path = dir.path().join("notion-mirror.pid");
    for bad in ["0", "-1"] {
        std::fs::write(&pid_path, format!("{bad}\n")).unwrap();
        let mut cmd = Command::new(common::binary());
        cmd.arg("resync")
            .env_clear()
            .env("HOME", dir.path())
            .env("NOTION_MIRROR_DB", dir.path().join("mirror.db"));
        // Its own process group: were pid 0 ever signalled, only resync itself would die.
        // SAFETY: only setsid (a plain system call) runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let (code, output) = run_to_exit(&mut cmd, Duration::from_secs(30));
        assert_eq!(code, Some(1), "pid {bad}: {output}");
        assert!(
            output.contains("refusing to signal") && output.contains(bad),
            "pid {bad}: {output}"
        );
    }
}

// ---- event types, tokens, protocol corners, health -----------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_stay_bounded_after_1000_distinct_signed_unknown_types() {
    let sim = common::sim(GenConfig::small(185), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let (config, daemon) = daemon(&sim, dir.path(), HttpLimits::default()).await;
    let client = common::http();
    let url = format!("http://{}/webhook", daemon.addr);
    let page = sim.read(|ws| ws.find_page_by_title("Roadmap")).unwrap();
    let before = client
        .get(format!("http://{}/metrics", daemon.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .len();
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let (client, url, page) = (client.clone(), url.clone(), page.clone());
        // Every tenth type is 10 KB long.
        let kind = if i % 10 == 0 {
            format!("made.up.{i}.{}", "x".repeat(10_000))
        } else {
            format!("made.up.{i}")
        };
        sends.spawn(async move {
            let body = event(&format!("18181818-0000-4000-8000-{i:012}"), &kind, &page);
            post_signed(&client, &url, &body).await
        });
        if sends.len() >= 16 {
            assert_eq!(sends.join_next().await.unwrap().unwrap(), 200);
        }
    }
    while let Some(status) = sends.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    let metrics = client
        .get(format!("http://{}/metrics", daemon.addr))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    println!(
        "/metrics: {before} bytes before, {} bytes after 1,000 distinct unknown types",
        metrics.len()
    );
    assert!(
        metrics.contains(
            "notion_mirror_webhook_events_total{type=\"other\",outcome=\"ignored\"} 1000"
        ),
        "{metrics}"
    );
    assert!(!metrics.contains("made.up"), "no made-up type is a label");
    assert!(
        metrics.len() < before + 2048,
        "/metrics grew from {before} to {} bytes",
        metrics.len()
    );
    // All of them are still stored (the delivery log is the contract).
    assert_eq!(
        common::count(
            &config,
            "select count(*) from webhook_events where type like 'made.up.%'"
        ),
        1000
    );
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_type_with_a_newline_forges_no_log_line_and_no_status_line() {
    let sim = common::sim(GenConfig::small(186), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let daemon = ChildDaemon::spawn(&sim, dir.path(), "", None);
    daemon.wait_logged("notion-mirror running").await;
    let page = sim.read(|ws| ws.find_page_by_title("Roadmap")).unwrap();
    let forged = "x\n2099-01-01T00:00:00.000000Z ERROR forged: the mirror is corrupt";
    let body = event("18181818-0000-4000-8000-00000000abcd", forged, &page);
    let client = common::http();
    let url = format!("http://{}/webhook", daemon.addr);
    assert_eq!(post_signed(&client, &url, &body).await, 200);
    daemon.wait_logged("type not mirrored").await;
    {
        let log = daemon.log.lock().unwrap();
        assert!(
            !log.iter().any(|l| l.starts_with("2099-01-01")),
            "a forged log line:\n{}",
            log.join("\n")
        );
        assert!(
            log.iter()
                .any(|l| l.contains("type not mirrored") && l.contains(r"x\n2099-01-01")),
            "the type is logged escaped:\n{}",
            log.join("\n")
        );
    }
    let (code, status) = run_to_exit(
        Command::new(common::binary())
            .arg("status")
            .env_clear()
            .env("HOME", dir.path())
            .env("NOTION_MIRROR_DB", dir.path().join("mirror.db")),
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(0), "{status}");
    assert!(
        !status.lines().any(|l| l.starts_with("2099-01-01")),
        "a forged status line:\n{status}"
    );
    assert!(status.contains(r"last x\n2099-01-01"), "{status}");
    assert!(status.contains("other 1"), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_unsigned_verification_token_does_not_replace_the_first_pending_one() {
    let sim = common::sim(GenConfig::small(187), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let (config, daemon) = daemon(&sim, dir.path(), HttpLimits::default()).await;
    let client = common::http();
    let url = format!("http://{}/webhook", daemon.addr);
    let genuine = r#"{"verification_token":"secret_notion_resent_0123456789"}"#;
    let forged = r#"{"verification_token":"secret_attacker_9876543210"}"#;
    let pending = || notion_mirror::status::pending_token(&config.db_path).unwrap();
    assert_eq!(post_unsigned(&client, &url, genuine).await, 200);
    assert_eq!(post_unsigned(&client, &url, forged).await, 200);
    assert_eq!(
        pending().as_deref(),
        Some("secret_notion_resent_0123456789")
    );
    // Notion's "Resend token" sends the same one again: still pending, not counted.
    assert_eq!(post_unsigned(&client, &url, genuine).await, 200);
    assert_eq!(
        pending().as_deref(),
        Some("secret_notion_resent_0123456789")
    );
    let s = notion_mirror::status::gather(&config.db_path).unwrap();
    let w = &s.webhooks;
    assert_eq!(w.pending_token_prefix.as_deref(), Some("secret_notio"));
    let from = w.pending_token_from.as_ref().unwrap();
    assert!(from.peer.starts_with("127.0.0.1:"), "{from:?}");
    let ignored = w.pending_tokens_ignored.as_ref().unwrap();
    assert_eq!(ignored.count, 1);
    let text = notion_mirror::status::render(&s);
    assert!(text.contains("secret_notio…"), "{text}");
    assert!(text.contains(&from.received_at), "{text}");
    assert!(text.contains("Verify dialog"), "{text}");
    assert!(text.contains("1 more different token(s)"), "{text}");
    assert!(!text.contains("secret_attacker"), "{text}");
    // The active token is untouched: events signed with it still pass.
    let page = sim.read(|ws| ws.find_page_by_title("Roadmap")).unwrap();
    let body = event(
        "18181818-0000-4000-8000-0000000000ee",
        "page.created",
        &page,
    );
    assert_eq!(post_signed(&client, &url, &body).await, 200);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_get_413_or_431_and_http2_prior_knowledge_gets_goaway() {
    let sim = common::sim(GenConfig::small(188), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let (_config, daemon) = daemon(&sim, dir.path(), short_deadlines()).await;
    let limit = Duration::from_secs(10);

    let mut s = TcpStream::connect(daemon.addr).await.unwrap();
    s.write_all(
        b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\
          Expect: 100-continue\r\n\r\n",
    )
    .await
    .unwrap();
    let answer = read_until_closed(&mut s, limit).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");

    // Headers beyond the 16 KiB read buffer.
    let mut s = TcpStream::connect(daemon.addr).await.unwrap();
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let _ = s.write_all(big.as_bytes()).await;
    let answer = read_until_closed(&mut s, limit).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    let mut s = TcpStream::connect(daemon.addr).await.unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let frames = read_until_closed(&mut s, limit).await.unwrap();
    // SETTINGS (type 4) first, then GOAWAY (type 7) with HTTP_1_1_REQUIRED (0xd).
    assert_eq!(frames.get(3), Some(&0x4), "{frames:?}");
    let goaway = &frames[9..];
    assert_eq!(goaway.get(3), Some(&0x7), "{frames:?}");
    assert_eq!(goaway.get(13..17), Some(&[0, 0, 0, 0xd][..]), "{frames:?}");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_fails_while_commits_fail() {
    let sim = common::sim(GenConfig::small(189), Knobs::unlimited()).await;
    let dir = tempfile::tempdir().unwrap();
    let (config, daemon) = daemon(&sim, dir.path(), HttpLimits::default()).await;
    let client = common::http();
    let url = format!("http://{}/healthz", daemon.addr);
    let status = |client: reqwest::Client, url: String| async move {
        client.get(url).send().await.unwrap().status().as_u16()
    };
    assert_eq!(status(client.clone(), url.clone()).await, 200);
    let wal = PathBuf::from(format!("{}-wal", config.db_path.display()));
    let aside = dir.path().join("wal-aside");
    std::fs::rename(&wal, &aside).unwrap();
    assert_eq!(status(client.clone(), url.clone()).await, 503);
    std::fs::rename(&aside, &wal).unwrap();
    assert_eq!(status(client.clone(), url.clone()).await, 200);
    daemon.stop().await;
}
