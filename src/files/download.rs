//! One download: a GET streamed into a temporary blob file, hashed on the way, fsynced and
//! placed under its hash.
//!
//! Invariants: memory stays at a few chunks whatever the file's size (the body is never
//! buffered); a body longer than the cap, or shorter than its `Content-Length`, never gets
//! a final name; no Notion credential is ever sent (a separate client without the API's
//! headers) and no signed URL reaches an error message (reqwest errors are stripped of
//! their URL); external URLs go through the address policy of `address.rs`.

use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::address::{self, PublicResolver};
use super::blobs::Blobs;
use super::FilesError;

/// Bytes buffered before a write to the temporary file.
const WRITE_BUFFER: usize = 256 * 1024;
/// A host that sends nothing for this long is given up on (the attempt is retried).
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Error bodies read for their S3 `Code`/`Message`, at most.
const ERROR_BODY: usize = 4096;

/// A stored blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    pub sha256: String,
    pub size: u64,
    pub content_type: Option<String>,
}

/// Why a download did not store a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Over the per-file cap (`size` when the host said).
    TooLarge { size: Option<u64> },
    /// Over what the total cap leaves.
    NoRoom { size: u64 },
    /// The host refused this URL (400/403: expired or rejected signature; 404/410): a fresh
    /// URL from the object may work.
    Rejected { status: u16, detail: String },
    /// Worth retrying as is later (network, timeouts, 408/429/5xx, the local disk).
    Transient(String),
    /// Never fetched: the address policy refused it.
    Refused(String),
    /// Any other answer: not retried.
    Failed(String),
}

/// The HTTP side of the files pool.
pub struct Fetcher {
    hosted: reqwest::Client,
    external: reqwest::Client,
    blobs: Blobs,
    max_bytes: u64,
}

impl Fetcher {
    pub fn new(blobs: Blobs, max_bytes: u64) -> Result<Fetcher, FilesError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let base = || {
            reqwest::Client::builder()
                .user_agent(concat!("notion-mirror/", env!("CARGO_PKG_VERSION")))
                // The bytes as stored, never a re-encoding of them.
                .no_gzip()
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(READ_TIMEOUT)
        };
        let hosted = base()
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| FilesError::Client(e.to_string()))?;
        let external = base()
            .dns_resolver(std::sync::Arc::new(PublicResolver))
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                if attempt.previous().len() >= 5 {
                    return attempt.error("too many redirects");
                }
                match address::refusal(attempt.url()) {
                    Some(why) => attempt.error(why),
                    None => attempt.follow(),
                }
            }))
            .build()
            .map_err(|e| FilesError::Client(e.to_string()))?;
        Ok(Fetcher {
            hosted,
            external,
            blobs,
            max_bytes,
        })
    }

    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }

    /// Downloads `url` into a blob. `room`: bytes the total cap still allows.
    pub async fn fetch(
        &self,
        url: &str,
        external: bool,
        room: Option<u64>,
    ) -> Result<Downloaded, Failure> {
        let parsed =
            reqwest::Url::parse(url).map_err(|e| Failure::Failed(format!("bad URL: {e}")))?;
        let client = if external {
            if let Some(why) = address::refusal(&parsed) {
                return Err(Failure::Refused(why));
            }
            &self.external
        } else {
            &self.hosted
        };
        let response = client.get(parsed).send().await.map_err(|e| {
            let text = describe(e);
            if text.contains("refused:") {
                Failure::Refused(text)
            } else {
                Failure::Transient(text)
            }
        })?;
        let status = response.status().as_u16();
        match status {
            200 => {}
            400 | 403 | 404 | 410 => {
                let detail = error_detail(response).await;
                return Err(Failure::Rejected { status, detail });
            }
            408 | 429 | 500..=599 => return Err(Failure::Transient(format!("HTTP {status}"))),
            _ => return Err(Failure::Failed(format!("HTTP {status}"))),
        }
        let declared = response.content_length();
        if let Some(len) = declared {
            if len > self.max_bytes {
                return Err(Failure::TooLarge { size: Some(len) });
            }
            if room.is_some_and(|r| len > r) {
                return Err(Failure::NoRoom { size: len });
            }
        }
        self.stream(response, declared).await
    }

    async fn stream(
        &self,
        mut response: reqwest::Response,
        declared: Option<u64>,
    ) -> Result<Downloaded, Failure> {
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let disk = |e: std::io::Error| Failure::Transient(format!("files directory: {e}"));
        let (file, temp) = self.blobs.temp().map_err(disk)?;
        let mut out =
            tokio::io::BufWriter::with_capacity(WRITE_BUFFER, tokio::fs::File::from_std(file));
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| Failure::Transient(describe(e)))?
        {
            size += chunk.len() as u64;
            if size > self.max_bytes {
                return Err(Failure::TooLarge { size: None });
            }
            hasher.update(&chunk);
            out.write_all(&chunk).await.map_err(disk)?;
        }
        if declared.is_some_and(|d| d != size) {
            return Err(Failure::Transient(format!(
                "the body ended after {size} of {} bytes",
                declared.unwrap_or_default()
            )));
        }
        out.flush().await.map_err(disk)?;
        let file = out.into_inner();
        file.sync_all().await.map_err(disk)?;
        drop(file);
        let sha256 = hex::encode(hasher.finalize());
        let (blobs, sha) = (self.blobs.clone(), sha256.clone());
        tokio::task::spawn_blocking(move || blobs.place(temp, &sha))
            .await
            .map_err(|e| Failure::Transient(format!("placing the blob: {e}")))?
            .map_err(disk)?;
        Ok(Downloaded {
            sha256,
            size,
            content_type,
        })
    }
}

/// A reqwest error with its causes, without the URL (signed URLs are credentials).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `HTTP 403 AccessDenied: Request has expired` from an S3 error body (bounded read).
async fn error_detail(mut response: reqwest::Response) -> String {
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while body.len() < ERROR_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&body);
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find("</")? + start;
        Some(text[start..end].chars().take(120).collect::<String>())
    };
    match (tag("Code"), tag("Message")) {
        (Some(code), Some(message)) => format!("HTTP {status} {code}: {message}"),
        (Some(code), None) => format!("HTTP {status} {code}"),
        _ => format!("HTTP {status}"),
    }
}
