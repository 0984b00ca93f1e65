//! The simulator's file host: answers `GET /s3/<workspace>/<file id>/<name>?X-Amz-…` like
//! S3 — a URL past `X-Amz-Date + X-Amz-Expires` → 403 `AccessDenied` "Request has
//! expired"; a URL signed in a session since expired (`FileHost::expire_sessions`; Notion
//! signs with temporary credentials) → 400 `ExpiredToken`; a bad signature → 403
//! `SignatureDoesNotMatch`; an unknown key → 404 `NoSuchKey`; each with S3's XML error
//! body — and streams the bytes (optionally throttled).
//!
//! Invariant: a body is produced chunk by chunk as the client reads it (a few 64 KiB
//! chunks in memory whatever the size); downloads are counted in `FileStats`, never in the
//! API's request counts.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use chrono::{NaiveDateTime, Utc};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::{Method, Request, Response, StatusCode};

use super::files::{seed_of, HostedFile, PATH_PREFIX};
use super::util::{parse_query, percent_decode, SimRng};

/// The answer body of the file host: a buffer or a stream.
pub(crate) type HostBody = BoxBody<Bytes, Infallible>;

/// Answers one request under [`PATH_PREFIX`].
pub(crate) async fn serve(
    inner: std::sync::Arc<super::Inner>,
    req: Request<Incoming>,
) -> Response<HostBody> {
    let host = &inner.files;
    let signature = parse_query(req.uri().query())
        .into_iter()
        .find(|(k, _)| k == "X-Amz-Signature")
        .map(|(_, v)| v)
        .unwrap_or_default();
    if super::lock(&host.refused).contains(&signature) {
        super::lock(&host.stats).refused_again += 1;
    }
    let answer = check(&inner, &req);
    let (file, throttle) = match answer {
        Ok(found) => found,
        Err((status, code, message)) => {
            host.record(status);
            super::lock(&host.refused).insert(signature);
            return xml_error(status, code, message);
        }
    };
    host.record(StatusCode::OK);
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let size = file.size;
    let content_type = file.content_type.clone();
    let inner_for_task = inner.clone();
    tokio::spawn(async move {
        let mut content = file.content();
        while let Some(chunk) = content.next_chunk() {
            let n = chunk.len();
            if let Some(rate) = throttle {
                let wait = Duration::from_secs_f64(n as f64 / rate.max(1) as f64);
                tokio::time::sleep(wait).await;
            }
            if tx.send(chunk).await.is_err() {
                return; // the client went away
            }
            inner_for_task.files.add_bytes(n);
        }
    });
    let mut resp = Response::new(Streamed { rx, left: size }.boxed());
    let h = resp.headers_mut();
    h.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_str(&content_type).unwrap_or(
            hyper::header::HeaderValue::from_static("application/octet-stream"),
        ),
    );
    h.insert(
        hyper::header::CONTENT_LENGTH,
        hyper::header::HeaderValue::from(size),
    );
    resp
}

type Refusal = (StatusCode, &'static str, &'static str);

/// The file a request may have, and the throttle to serve it with.
fn check(
    inner: &super::Inner,
    req: &Request<Incoming>,
) -> Result<(HostedFile, Option<u64>), Refusal> {
    if req.method() != Method::GET {
        return Err((
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        ));
    }
    let path = req.uri().path().to_string();
    let query = parse_query(req.uri().query());
    let param = |k: &str| {
        query
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
    };
    let (Some(date), Some(expires), Some(token), Some(signature)) = (
        param("X-Amz-Date"),
        param("X-Amz-Expires"),
        param("X-Amz-Security-Token"),
        param("X-Amz-Signature"),
    ) else {
        return Err((StatusCode::FORBIDDEN, "AccessDenied", "Access Denied"));
    };
    let host = &inner.files;
    let seconds: u64 = expires.parse().unwrap_or(0);
    if host.signature(&path, &date, seconds, &token) != signature {
        return Err((
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        ));
    }
    let epoch = format!("SimSession{}x", host.epoch.load(Ordering::SeqCst));
    if !token.starts_with(&epoch) {
        return Err((
            StatusCode::BAD_REQUEST,
            "ExpiredToken",
            "The provided token has expired.",
        ));
    }
    let signed_at = NaiveDateTime::parse_from_str(&date, "%Y%m%dT%H%M%SZ")
        .map(|t| t.and_utc())
        .map_err(|_| (StatusCode::FORBIDDEN, "AccessDenied", "Access Denied"))?;
    if Utc::now() > signed_at + chrono::Duration::seconds(seconds as i64) {
        return Err((StatusCode::FORBIDDEN, "AccessDenied", "Request has expired"));
    }
    let not_found = (
        StatusCode::NOT_FOUND,
        "NoSuchKey",
        "The specified key does not exist.",
    );
    let rest = path.strip_prefix(PATH_PREFIX).ok_or(not_found)?;
    let mut parts = rest.splitn(3, '/');
    let (Some(_workspace), Some(id), Some(name)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(not_found);
    };
    let file = super::lock(&inner.ws)
        .files
        .get(id)
        .cloned()
        .ok_or(not_found)?;
    if file.name != percent_decode(name) {
        return Err(not_found);
    }
    Ok((file, inner.knobs().file_bytes_per_sec))
}

fn xml_error(status: StatusCode, code: &str, message: &str) -> Response<HostBody> {
    let mut rng = SimRng::new(seed_of(&format!("{code}{}", Utc::now())));
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{}</RequestId><HostId>{}</HostId></Error>",
        rng.hex(16).to_ascii_uppercase(),
        rng.hex(56)
    );
    let mut resp = Response::new(Full::new(Bytes::from(body)).boxed());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/xml"),
    );
    resp
}

/// A body fed chunk by chunk by the producing task (memory stays at a few chunks).
struct Streamed {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    left: u64,
}

impl Body for Streamed {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(chunk)) => {
                self.left = self.left.saturating_sub(chunk.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

/// The file host as tests and benchmarks see it.
impl super::Sim {
    /// The hosted files of the workspace (their bytes: [`super::files::HostedFile::content`]).
    pub fn hosted_files(&self) -> Vec<super::files::HostedFile> {
        super::lock(&self.inner.ws)
            .files
            .values()
            .cloned()
            .collect()
    }

    /// What the file host served so far.
    pub fn file_stats(&self) -> super::files::FileStats {
        self.inner.files.stats()
    }

    pub fn reset_file_stats(&self) {
        self.inner.files.reset_stats();
    }

    /// Every hosted-file URL handed out so far stops working (400 `ExpiredToken`, as when
    /// the temporary credentials Notion signs with expire); new renderings work.
    pub fn expire_file_sessions(&self) {
        self.inner.files.expire_sessions();
    }

    /// Signs the hosted files in `v` as an API answer now would.
    pub fn sign_files(&self, v: &mut serde_json::Value) {
        self.inner.files.sign(v, self.knobs().file_url_ttl);
    }
}
