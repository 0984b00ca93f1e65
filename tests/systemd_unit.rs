//! The systemd unit, `systemd/notion-mirror.service`, checked without a running systemd:
//! the directives the daemon relies on, `systemd-analyze verify` printing nothing, and
//! `systemd-analyze security --offline=true` rating it 2.0 or below ("OK"). Every drop-in
//! that `systemd/README.md` tells admins to install is held to the same bar, and so is the
//! templated `systemd/notion-mirror@.service`, which must differ from the single unit only in
//! its instance lines. No network.
//!
//! Where `systemd-analyze` is missing, or older than 250 (no `--offline`), the checks that
//! need it print `SKIPPED: ...` straight to the terminal (past libtest's output capture, so
//! a skip is never silent) and pass.

use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The highest overall exposure we accept ("OK" in systemd-analyze's words).
const MAX_EXPOSURE: f64 = 2.0;
/// The ExecStart line as shipped; verify gets a copy pointing at the binary cargo built.
const SHIPPED_EXEC_START: &str = "ExecStart=/usr/local/bin/notion-mirror run";
/// The single unit's file name.
const UNIT: &str = "notion-mirror.service";
/// An instance of the template, as `verify` and `security` are given it.
const INSTANCE: &str = "notion-mirror@acme.service";
/// The only settings in which the template differs from the single unit, with their
/// per-instance values.
const INSTANCE_LINES: [(&str, &str, &str); 4] = [
    (
        "Unit",
        "Description",
        "Notion workspace mirror for %i (webhooks + reconciler into SQLite)",
    ),
    ("Service", "EnvironmentFile", "/etc/notion-mirror/%i.env"),
    (
        "Service",
        "LoadCredential",
        "notion-token:/etc/notion-mirror/%i.token",
    ),
    ("Service", "StateDirectory", "notion-mirror/%i"),
];
/// How README.md marks a drop-in: the first line of an `ini` block names its path.
const DROP_IN_DIR: &str = "/etc/systemd/system/notion-mirror.service.d/";

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    let path = repo_file(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn unit_text() -> String {
    read("systemd/notion-mirror.service")
}

/// The templated unit for several workspaces side by side (docs/several-workspaces.md).
fn template_text() -> String {
    read("systemd/notion-mirror@.service")
}

/// Writes to the terminal even while libtest captures the test's output: a dup of fd 2
/// is not the captured `std::io::stderr()`.
fn note(message: &str) {
    let fd = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .expect("dup stderr");
    let mut out = std::fs::File::from(fd);
    let _ = writeln!(out, "{message}");
}

// ---- the unit file as data ------------------------------------------------------------

/// One `Key=value` assignment: (section, key, value), in file order.
type Directive = (String, String, String);

/// Every assignment in a unit file; comments, blank lines and line continuations handled
/// the way systemd does for the subset a unit file like ours uses.
fn directives(text: &str) -> Vec<Directive> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with(';'))
        {
            continue;
        }
        if let Some(stripped) = line.strip_suffix('\\') {
            pending.push_str(stripped);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let full = std::mem::take(&mut pending);
        if full.starts_with('[') && full.ends_with(']') {
            section = full[1..full.len() - 1].to_string();
        } else if let Some((key, value)) = full.split_once('=') {
            out.push((
                section.clone(),
                key.trim().to_string(),
                value.trim().to_string(),
            ));
        } else {
            panic!("not a unit file line: {full:?}");
        }
    }
    out
}

/// The values assigned to `key` in `section`, in order.
fn values<'a>(all: &'a [Directive], section: &str, key: &str) -> Vec<&'a str> {
    all.iter()
        .filter(|(s, k, _)| s == section && k == key)
        .map(|(_, _, v)| v.as_str())
        .collect()
}

/// The effective value of a single-valued setting: the last assignment wins.
fn last<'a>(all: &'a [Directive], section: &str, key: &str) -> Option<&'a str> {
    values(all, section, key).last().copied()
}

/// A systemd time span ("60s", "1min 30s", "90") in seconds.
fn seconds(span: &str) -> f64 {
    let mut total = 0.0;
    for word in span.split_whitespace() {
        let split = word
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(word.len());
        let (number, unit) = word.split_at(split);
        let n: f64 = number
            .parse()
            .unwrap_or_else(|_| panic!("not a time span: {span:?}"));
        let factor = match unit {
            "" | "s" | "sec" | "second" | "seconds" => 1.0,
            "ms" | "msec" => 0.001,
            "m" | "min" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hour" | "hours" => 3600.0,
            other => panic!("unknown time unit {other:?} in {span:?}"),
        };
        total += n * factor;
    }
    total
}

/// The drop-ins README.md tells admins to install: (path named in the block, contents).
fn readme_drop_ins() -> Vec<(String, String)> {
    let readme = read("systemd/README.md");
    let mut out = Vec::new();
    let mut block: Option<Vec<&str>> = None;
    for line in readme.lines() {
        let trimmed = line.trim();
        match &mut block {
            None if trimmed == "```ini" => block = Some(Vec::new()),
            None => {}
            Some(lines) if trimmed == "```" => {
                let first = lines.first().map(|l| l.trim()).unwrap_or_default();
                if let Some(path) = first
                    .strip_prefix("# ")
                    .filter(|p| p.starts_with(DROP_IN_DIR))
                {
                    out.push((path.to_string(), lines.join("\n") + "\n"));
                }
                block = None;
            }
            Some(lines) => lines.push(trimmed),
        }
    }
    out
}

/// The unit with a drop-in applied. Appending is what systemd does with a drop-in:
/// single-valued settings take the last assignment, list settings accumulate.
fn with_drop_in(unit: &str, drop_in: &str) -> String {
    format!("{unit}\n{drop_in}")
}

// ---- systemd-analyze ------------------------------------------------------------------

/// `systemd-analyze` when present and new enough for `--offline` (systemd 250), else a
/// visible note and `None`.
fn systemd_analyze(check: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let Some(bin) = std::env::split_paths(&path)
        .map(|dir| dir.join("systemd-analyze"))
        .find(|p| p.is_file())
    else {
        note(&format!(
            "SKIPPED {check}: systemd-analyze is not on PATH (install systemd to run this check)"
        ));
        return None;
    };
    let version = Command::new(&bin)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.split_whitespace().nth(1)?.parse::<u32>().ok()
        });
    match version {
        Some(v) if v >= 250 => Some(bin),
        other => {
            note(&format!(
                "SKIPPED {check}: {} reports systemd {other:?}; --offline needs 250 or later",
                bin.display()
            ));
            None
        }
    }
}

/// Runs systemd-analyze without colours or pager; (success, stdout, stderr).
fn run(bin: &Path, args: &[&str], file: &Path) -> (bool, String, String) {
    let out = Command::new(bin)
        .args(args)
        .arg(file)
        .env("SYSTEMD_COLORS", "0")
        .env("SYSTEMD_PAGER", "")
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Drops ANSI escape sequences, in case colours are forced on by the environment.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// The number and rating on "→ Overall exposure level for x.service: 1.1 OK 🙂".
fn overall_exposure(output: &str) -> Option<(f64, String)> {
    let text = strip_ansi(output);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level for"))?;
    let (_, after) = line.rsplit_once(": ")?;
    let mut words = after.split_whitespace();
    let number = words.next()?.parse::<f64>().ok()?;
    let rating = words.next().unwrap_or_default().to_string();
    Some((number, rating))
}

/// A path as the first word of ExecStart=: `%` escaped, quoted when it has to be.
fn exec_path(path: &Path) -> String {
    let text = path.to_str().expect("the test binary path is UTF-8");
    let escaped = text.replace('%', "%%");
    if escaped
        .chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\\' || c == '\'')
    {
        format!("\"{}\"", escaped.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        escaped
    }
}

/// The unit text as `verify` should see it: identical except that ExecStart= names the
/// binary cargo built, because verify insists that the command exist and this machine
/// need not have /usr/local/bin/notion-mirror installed.
fn verifiable(unit: &str) -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_notion-mirror"));
    let replacement = format!("ExecStart={} run", exec_path(bin));
    let hits = unit
        .lines()
        .filter(|l| l.trim() == SHIPPED_EXEC_START)
        .count();
    assert_eq!(
        hits, 1,
        "expected exactly one `{SHIPPED_EXEC_START}` line in the unit"
    );
    unit.lines()
        .map(|l| {
            if l.trim() == SHIPPED_EXEC_START {
                replacement.as_str()
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Writes `text` as `notion-mirror.service` in a fresh directory (verify and security
/// take the unit name from the file name).
fn unit_file(text: &str) -> (tempfile::TempDir, PathBuf) {
    unit_file_named(UNIT, text)
}

/// Writes `text` as `name` (e.g. an instance of the template) in a fresh directory.
fn unit_file_named(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write the unit copy");
    (dir, path)
}

/// `systemd-analyze verify` must succeed and print nothing: unknown keys, bad values and
/// missing commands are reported as warnings with exit status 0, so silence is the test.
fn assert_verify_clean(bin: &Path, what: &str, unit: &str) {
    assert_verify_clean_as(bin, UNIT, what, unit)
}

/// [`assert_verify_clean`] with the unit written as `name`.
fn assert_verify_clean_as(bin: &Path, name: &str, what: &str, unit: &str) {
    let (_dir, path) = unit_file_named(name, &verifiable(unit));
    let (ok, stdout, stderr) = run(bin, &["verify", "--man=no"], &path);
    let printed = format!("{stdout}{stderr}");
    assert!(
        ok && printed.trim().is_empty(),
        "systemd-analyze verify of {what} is not clean (success: {ok}):\n{printed}"
    );
    note(&format!("systemd-analyze verify {what}: clean"));
}

/// `systemd-analyze security --offline=true` must rate `unit` at MAX_EXPOSURE or below.
fn assert_exposure_ok(bin: &Path, what: &str, unit: &str) -> f64 {
    assert_exposure_ok_as(bin, UNIT, what, unit)
}

/// [`assert_exposure_ok`] with the unit written as `name`.
fn assert_exposure_ok_as(bin: &Path, name: &str, what: &str, unit: &str) -> f64 {
    let (_dir, path) = unit_file_named(name, unit);
    let (_, stdout, stderr) = run(bin, &["security", "--offline=true", "--no-pager"], &path);
    let Some((exposure, rating)) = overall_exposure(&stdout) else {
        panic!(
            "no overall exposure line from systemd-analyze security for {what}:\n{stdout}{stderr}"
        );
    };
    let failing: Vec<&str> = stdout.lines().filter(|l| l.starts_with('✗')).collect();
    note(&format!(
        "systemd-analyze security --offline=true {what}: overall exposure {exposure:.1} {rating}"
    ));
    assert!(
        exposure <= MAX_EXPOSURE,
        "{what}: exposure {exposure} {rating} is above {MAX_EXPOSURE}; the settings that cost:\n{}",
        failing.join("\n")
    );
    // The same bar through systemd-analyze's own threshold (exposure x 10).
    let threshold = format!("--threshold={}", (MAX_EXPOSURE * 10.0).round() as u32);
    let (ok, out, err) = run(
        bin,
        &["security", "--offline=true", "--no-pager", &threshold],
        &path,
    );
    assert!(
        ok,
        "{what}: systemd-analyze security {threshold} fails:\n{out}{err}"
    );
    exposure
}

// ---- tests ------------------------------------------------------------------------------

#[test]
fn unit_has_the_directives_the_daemon_relies_on() {
    let unit = unit_text();
    let d = directives(&unit);
    let service = |key: &str| last(&d, "Service", key);

    for (key, want) in [
        ("Type", "notify"),
        ("ExecStart", "/usr/local/bin/notion-mirror run"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("Restart", "on-failure"),
        ("DynamicUser", "yes"),
        ("StateDirectory", "notion-mirror"),
        ("LoadCredential", "notion-token:/etc/notion-mirror/token"),
        ("EnvironmentFile", "-/etc/notion-mirror/env"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("MemoryDenyWriteExecute", "yes"),
    ] {
        assert_eq!(service(key), Some(want), "[Service] {key}=");
    }
    let filters = values(&d, "Service", "SystemCallFilter");
    assert!(
        filters.contains(&"@system-service"),
        "SystemCallFilter=@system-service missing: {filters:?}"
    );
    let denied: Vec<&str> = filters
        .iter()
        .filter_map(|f| f.strip_prefix('~'))
        .flat_map(str::split_whitespace)
        .collect();
    for group in ["@privileged", "@resources"] {
        assert!(
            denied.contains(&group),
            "SystemCallFilter=~{group} missing: {filters:?}"
        );
    }

    // The daemon pings every WATCHDOG_USEC/2, so any positive value works; keep it sane.
    let watchdog = seconds(service("WatchdogSec").expect("WatchdogSec="));
    assert!(
        (10.0..=600.0).contains(&watchdog),
        "WatchdogSec={watchdog}s is not sane"
    );
    // A graceful stop takes up to shutdown_timeout (2 s) for in-flight work, 2 s for the
    // listener to drain, then the store's last checkpoint: leave room for that, but not so
    // much that a wedged daemon holds a restart for a minute.
    if let Some(stop) = service("TimeoutStopSec") {
        assert!(
            (10.0..=30.0).contains(&seconds(stop)),
            "TimeoutStopSec={stop} does not fit a stop of about 5 s"
        );
    }
    // Room for the daemon's connection cap (512, half the limit at most) and its own files;
    // the daemon cannot raise the limit itself under ~@resources.
    let nofile = service("LimitNOFILE").expect("LimitNOFILE=");
    let soft: u64 = nofile
        .split(':')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("LimitNOFILE={nofile} is not a number"));
    assert!(
        soft >= 2048,
        "LimitNOFILE={nofile} leaves too few descriptors"
    );
    // The token only ever arrives as a credential: never in the unit's environment.
    for env in values(&d, "Service", "Environment") {
        assert!(
            !env.contains("NOTION_TOKEN"),
            "token in Environment=: {env}"
        );
    }
    assert_eq!(last(&d, "Install", "WantedBy"), Some("multi-user.target"));
}

#[test]
fn readme_drop_ins_are_found() {
    let drop_ins = readme_drop_ins();
    let names: Vec<&str> = drop_ins.iter().map(|(p, _)| p.as_str()).collect();
    assert!(
        names.iter().any(|p| p.ends_with("/readers.conf")),
        "README.md lost the readers drop-in: {names:?}"
    );
    // The readers drop-in is what makes the group story work.
    let (_, readers) = drop_ins
        .iter()
        .find(|(p, _)| p.ends_with("/readers.conf"))
        .unwrap();
    let merged = directives(&with_drop_in(&unit_text(), readers));
    assert_eq!(last(&merged, "Service", "DynamicUser"), Some("no"));
    assert_eq!(last(&merged, "Service", "Group"), Some("notion-mirror"));
    assert_eq!(last(&merged, "Service", "StateDirectoryMode"), Some("0750"));
}

#[test]
fn unit_passes_systemd_analyze_verify() {
    let Some(bin) = systemd_analyze("systemd-analyze verify") else {
        return;
    };
    let unit = unit_text();
    assert_verify_clean(&bin, "notion-mirror.service", &unit);

    // The shipped file itself, ExecStart untouched: the one message allowed is the
    // missing binary, on a machine where it is not installed.
    let (_dir, path) = unit_file(&unit);
    let (_, stdout, stderr) = run(&bin, &["verify", "--man=no"], &path);
    let printed = format!("{stdout}{stderr}");
    let installed = Path::new("/usr/local/bin/notion-mirror").is_file();
    let allowed = "notion-mirror.service: Command /usr/local/bin/notion-mirror is not executable: No such file or directory";
    let other: Vec<&str> = printed
        .lines()
        .filter(|l| !l.trim().is_empty() && (installed || l.trim() != allowed))
        .collect();
    assert!(
        other.is_empty(),
        "systemd-analyze verify of the shipped file:\n{printed}"
    );
}

#[test]
fn unit_rates_ok_in_systemd_analyze_security() {
    let Some(bin) = systemd_analyze("systemd-analyze security") else {
        return;
    };
    assert_exposure_ok(&bin, "notion-mirror.service", &unit_text());
}

#[test]
fn readme_drop_ins_keep_the_unit_clean_and_ok() {
    let Some(bin) = systemd_analyze("systemd-analyze (README drop-ins)") else {
        return;
    };
    let unit = unit_text();
    for (path, drop_in) in readme_drop_ins() {
        let merged = with_drop_in(&unit, &drop_in);
        let what = format!("notion-mirror.service + {path}");
        assert_verify_clean(&bin, &what, &merged);
        assert_exposure_ok(&bin, &what, &merged);
    }
}

#[test]
fn template_has_the_units_hardening_and_its_own_instance_lines() {
    let single = directives(&unit_text());
    let template = directives(&template_text());
    let instance_key = |(section, key, _): &&Directive| {
        INSTANCE_LINES
            .iter()
            .any(|(s, k, _)| s == section && k == key)
    };
    let shared = |d: &[Directive]| -> Vec<Directive> {
        d.iter().filter(|d| !instance_key(d)).cloned().collect()
    };
    assert_eq!(
        shared(&template),
        shared(&single),
        "notion-mirror@.service differs from notion-mirror.service beyond its instance lines"
    );
    for (section, key, want) in INSTANCE_LINES {
        assert_eq!(
            values(&template, section, key),
            vec![want],
            "[{section}] {key}= of the template"
        );
    }
}

#[test]
fn template_instance_passes_verify_and_rates_ok() {
    let Some(bin) = systemd_analyze("systemd-analyze (notion-mirror@.service)") else {
        return;
    };
    let template = template_text();
    assert_verify_clean_as(&bin, INSTANCE, INSTANCE, &template);
    assert_exposure_ok_as(&bin, INSTANCE, INSTANCE, &template);
}

#[test]
fn overall_exposure_line_is_parsed() {
    let utf8 = "✓ UMask=  Files created by service are accessible only by service's own user by default\n\n\u{2192} Overall exposure level for notion-mirror.service: 1.1 OK \u{1f642}\n";
    assert_eq!(overall_exposure(utf8), Some((1.1, "OK".to_string())));
    let ascii = "-> Overall exposure level for x.service: 9.6 UNSAFE :-{\n";
    assert_eq!(overall_exposure(ascii), Some((9.6, "UNSAFE".to_string())));
    let coloured =
        "\u{1b}[1m-> Overall exposure level for x.service: \u{1b}[0;32m2.0 OK\u{1b}[0m :-)\n";
    assert_eq!(overall_exposure(coloured), Some((2.0, "OK".to_string())));
    assert_eq!(overall_exposure("no such line"), None);
    assert_eq!(seconds("60s"), 60.0);
    assert_eq!(seconds("1min 30s"), 90.0);
    assert_eq!(seconds("90"), 90.0);
}
