//! Notion-hosted files, served for real: the registry of file contents (deterministic
//! bytes per file), S3-style presigned URLs signed anew on every rendering, and the file
//! host answering them on the simulator's own loopback address.
//!
//! Invariant: the workspace stores a hosted file as `{"url": "sim-hosted:<id>/<name>"}`
//! (rendering stays a pure function of the workspace); [`FileHost::sign`] turns every such
//! object into `{"url": <signed URL>, "expiry_time": …}` at the HTTP boundary, so two
//! renderings of one object differ exactly where Notion's do: the query string and
//! `expiry_time` [S5, notion-samples/blocks: `X-Amz-*` parameters, one-hour expiry].
//!
//! The host itself (`file_host.rs`) answers like S3.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::model::Workspace;
use super::util::{encode_uri_component, fmt_millis, SimRng};

/// How the workspace spells a hosted file's URL before signing.
pub const MARKER: &str = "sim-hosted:";
/// Where the simulator serves hosted files (`/s3/<workspace id>/<file id>/<name>`).
pub const PATH_PREFIX: &str = "/s3/";
/// Bytes per body chunk.
const CHUNK: usize = 64 * 1024;

/// A Notion-hosted file: its name, size and (deterministic) content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostedFile {
    pub id: String,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    /// Files with the same seed and size have the same bytes (and hash).
    pub content_seed: u64,
}

impl HostedFile {
    pub fn new(id: &str, name: &str, size: u64, content_seed: u64) -> Self {
        HostedFile {
            id: id.to_string(),
            name: name.to_string(),
            size,
            content_type: content_type(name).to_string(),
            content_seed,
        }
    }

    /// The file's bytes, chunk by chunk.
    pub fn content(&self) -> Content {
        Content {
            rng: SimRng::new(self.content_seed),
            left: self.size,
        }
    }

    /// Lowercase hex SHA-256 of the content (computed by streaming it).
    pub fn sha256(&self) -> String {
        let mut hasher = Sha256::new();
        let mut content = self.content();
        while let Some(chunk) = content.next_chunk() {
            hasher.update(&chunk);
        }
        hex::encode(hasher.finalize())
    }

    /// The `file` object the workspace stores (signed when rendered over HTTP).
    pub fn unsigned(&self) -> Value {
        json!({ "url": format!("{MARKER}{}/{}", self.id, encode_uri_component(&self.name)) })
    }

    /// `{"type": "file", "file": …}`: an icon, a cover, or (with `name`) a `files` value.
    pub fn object(&self) -> Value {
        json!({ "type": "file", "file": self.unsigned() })
    }
}

/// Deterministic file bytes.
pub struct Content {
    rng: SimRng,
    left: u64,
}

impl Content {
    pub fn next_chunk(&mut self) -> Option<Bytes> {
        if self.left == 0 {
            return None;
        }
        let n = (self.left as usize).min(CHUNK);
        let mut buf = Vec::with_capacity(n + 8);
        while buf.len() < n {
            buf.extend_from_slice(&self.rng.next_u64().to_le_bytes());
        }
        buf.truncate(n);
        self.left -= n as u64;
        Some(Bytes::from(buf))
    }
}

/// A seed from text (file ids, names).
pub fn seed_of(text: &str) -> u64 {
    let digest = Sha256::digest(text.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// A UUID derived from text (ids for files made without the workspace's RNG).
pub fn derived_id(text: &str) -> String {
    let mut rng = SimRng::new(seed_of(text));
    rng.uuid()
}

/// The content type S3 stores for a name's extension.
pub fn content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "txt" => "text/plain",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        _ => "application/octet-stream",
    }
}

/// A `files` property value from a mutation: each element is a file name (a new hosted
/// file of a few KiB), `{"name", "size"}` (a new hosted file of that many bytes) or
/// `{"name", "external"}` (a link); `null` clears. Returns the value and the hosted files
/// to register once the whole mutation is valid.
pub(crate) fn files_value(
    ws: &Workspace,
    page: &str,
    now: DateTime<Utc>,
    v: &Value,
) -> Result<(super::model::Val, Vec<HostedFile>), super::SimError> {
    let bad = || {
        super::SimError::Invalid(format!(
            "a files value is an array of names, {{name, size}} or {{name, external}}, not {v}"
        ))
    };
    let items: Vec<Value> = match v {
        Value::Null => Vec::new(),
        Value::Array(a) => a.clone(),
        _ => return Err(bad()),
    };
    let mut out = Vec::new();
    let mut new = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let (name, size, external) = match item {
            Value::String(n) => (n.clone(), None, None),
            Value::Object(m) => (
                m.get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(bad)?
                    .to_string(),
                m.get("size").and_then(Value::as_u64),
                m.get("external")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ),
            _ => return Err(bad()),
        };
        if let Some(url) = external {
            out.push(json!({ "name": name, "type": "external", "external": { "url": url } }));
            continue;
        }
        let id = derived_id(&format!(
            "{}/{page}/{}/{i}/{name}",
            ws.workspace_id,
            now.timestamp_nanos_opt().unwrap_or_default()
        ));
        let size = size.unwrap_or_else(|| 8 * 1024 + seed_of(&id) % (56 * 1024));
        let file = HostedFile::new(&id, &name, size, seed_of(&id));
        out.push(json!({ "name": name, "type": "file", "file": file.unsigned() }));
        new.push(file);
    }
    Ok((super::model::Val::Files(out), new))
}

impl Workspace {
    /// Registers a hosted file and returns it.
    pub fn add_hosted_file(&mut self, file: HostedFile) -> HostedFile {
        self.files.insert(file.id.clone(), file.clone());
        file
    }
}

/// What the file host served, for tests and benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileStats {
    /// Answers by HTTP status.
    pub by_status: std::collections::BTreeMap<u16, u64>,
    /// Body bytes handed to clients.
    pub bytes: u64,
    /// Requests for a URL the host had already refused (a client that retries a rejected
    /// URL as is).
    pub refused_again: u64,
}

impl FileStats {
    pub fn ok(&self) -> u64 {
        self.by_status.get(&200).copied().unwrap_or(0)
    }
    pub fn total(&self) -> u64 {
        self.by_status.values().sum()
    }
    pub fn status(&self, code: u16) -> u64 {
        self.by_status.get(&code).copied().unwrap_or(0)
    }
}

/// Signs URLs and serves files.
pub(crate) struct FileHost {
    base_url: String,
    workspace_id: String,
    key: Vec<u8>,
    /// Makes every rendering's query string new.
    counter: AtomicU64,
    /// URLs signed in an earlier session answer `ExpiredToken`.
    pub(super) epoch: AtomicU64,
    pub(super) stats: Mutex<FileStats>,
    /// Signatures of URLs refused so far.
    pub(super) refused: Mutex<std::collections::HashSet<String>>,
}

type HmacSha256 = Hmac<Sha256>;

impl FileHost {
    pub fn new(base_url: &str, workspace_id: &str, seed: u64) -> Self {
        FileHost {
            base_url: base_url.to_string(),
            workspace_id: workspace_id.to_string(),
            key: Sha256::digest(format!("sim-file-host-{seed}")).to_vec(),
            counter: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            stats: Mutex::new(FileStats::default()),
            refused: Mutex::new(std::collections::HashSet::new()),
        }
    }

    pub fn stats(&self) -> FileStats {
        super::lock(&self.stats).clone()
    }

    pub fn reset_stats(&self) {
        *super::lock(&self.stats) = FileStats::default();
    }

    /// Every URL signed so far stops working (400 `ExpiredToken`).
    pub fn expire_sessions(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// Signs every hosted file object in `v` for `ttl` from now.
    pub fn sign(&self, v: &mut Value, ttl: Duration) {
        match v {
            Value::Object(m) => {
                if let Some(Value::Object(file)) = m.get_mut("file") {
                    if let Some(spec) = file
                        .get("url")
                        .and_then(Value::as_str)
                        .and_then(|u| u.strip_prefix(MARKER))
                    {
                        let (url, expiry) = self.signed(spec, ttl, Utc::now());
                        let mut signed = Map::new();
                        signed.insert("url".into(), json!(url));
                        signed.insert("expiry_time".into(), json!(expiry));
                        *file = signed;
                    }
                }
                for x in m.values_mut() {
                    self.sign(x, ttl);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.sign(x, ttl)),
            _ => {}
        }
    }

    /// `(url, expiry_time)` for `spec` (`<file id>/<encoded name>`), signed at `now`.
    fn signed(&self, spec: &str, ttl: Duration, now: DateTime<Utc>) -> (String, String) {
        let path = format!("{PATH_PREFIX}{}/{spec}", self.workspace_id);
        let date = now.format("%Y%m%dT%H%M%SZ").to_string();
        let expires = ttl.as_secs();
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let token = format!("SimSession{}x{n:012x}", self.epoch.load(Ordering::SeqCst));
        let signature = self.signature(&path, &date, expires, &token);
        let credential = format!(
            "ASIASIMULATEDKEY%2F{}%2Fus-west-2%2Fs3%2Faws4_request",
            &date[..8]
        );
        let url = format!(
            "{}{path}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Content-Sha256=UNSIGNED-PAYLOAD&X-Amz-Credential={credential}&X-Amz-Date={date}&X-Amz-Expires={expires}&X-Amz-Security-Token={token}&X-Amz-Signature={signature}&X-Amz-SignedHeaders=host&x-amz-checksum-mode=ENABLED&x-id=GetObject",
            self.base_url
        );
        let expiry = now + chrono::Duration::milliseconds(ttl.as_millis() as i64);
        (url, fmt_millis(expiry))
    }

    pub(super) fn signature(&self, path: &str, date: &str, expires: u64, token: &str) -> String {
        let Ok(mut mac) = HmacSha256::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(format!("GET\n{path}\n{date}\n{expires}\n{token}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    pub(super) fn record(&self, status: hyper::StatusCode) {
        *super::lock(&self.stats)
            .by_status
            .entry(status.as_u16())
            .or_insert(0) += 1;
    }

    pub(super) fn add_bytes(&self, n: usize) {
        super::lock(&self.stats).bytes += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signing_is_new_and_only_hosted_objects_change() {
        let host = FileHost::new("http://127.0.0.1:9", "ws", 1);
        let file = HostedFile::new("f1", "spec sheet.pdf", 10, 3);
        let mut a = json!({ "cover": file.object(), "icon": { "type": "emoji", "emoji": "x" } });
        let mut b = a.clone();
        host.sign(&mut a, Duration::from_secs(3600));
        host.sign(&mut b, Duration::from_secs(3600));
        let url = a["cover"]["file"]["url"].as_str().unwrap();
        assert!(url.starts_with("http://127.0.0.1:9/s3/ws/f1/spec%20sheet.pdf?X-Amz-Algorithm="));
        assert_ne!(a["cover"]["file"]["url"], b["cover"]["file"]["url"]);
        assert!(a["cover"]["file"]["expiry_time"].is_string());
        assert_eq!(a["icon"], json!({ "type": "emoji", "emoji": "x" }));
        assert_eq!(
            crate::mirror::file_refs::unsigned(&a),
            crate::mirror::file_refs::unsigned(&b)
        );
    }

    #[test]
    fn content_is_deterministic_and_sized() {
        let a = HostedFile::new("a", "a.bin", 200_000, 7);
        let b = HostedFile::new("b", "b.bin", 200_000, 7);
        let c = HostedFile::new("c", "c.bin", 200_000, 8);
        assert_eq!(a.sha256(), b.sha256(), "same seed, same bytes");
        assert_ne!(a.sha256(), c.sha256());
        let mut total = 0;
        let mut content = a.content();
        while let Some(chunk) = content.next_chunk() {
            total += chunk.len();
        }
        assert_eq!(total, 200_000);
        assert_eq!(content_type("X.PDF"), "application/pdf");
    }
}
