//! The bench's HTTP side of the daemon: signed `page.properties_updated` events posted over
//! keep-alive HTTP/1.1 connections, and counters read from `/metrics`.
//! Invariant: every event id carries a fresh `nonce()` tag, so the events of one phase are
//! never taken for duplicates of another's (the daemon dedupes by id).

use anyhow::{Context as _, Result};
use bytes::Bytes;
use chrono::{SubsecRound as _, Utc};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;

/// One keep-alive HTTP/1.1 connection to the daemon.
pub(crate) struct Poster {
    sender: http1::SendRequest<Full<Bytes>>,
    host: String,
}

impl Poster {
    pub(crate) async fn connect(addr: &str) -> Result<Poster> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to the daemon at {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Poster {
            sender,
            host: addr.to_string(),
        })
    }

    pub(crate) async fn get(&mut self, path: &str) -> Result<String> {
        self.sender.ready().await?;
        let request = Request::get(path)
            .header(HOST, &self.host)
            .body(Full::new(Bytes::new()))?;
        let response = self.sender.send_request(request).await?;
        let body = response.into_body().collect().await?.to_bytes();
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    pub(crate) async fn post(&mut self, body: Bytes, signature: &str) -> Result<u16> {
        self.sender.ready().await?;
        let request = Request::post("/webhook")
            .header(HOST, &self.host)
            .header(CONTENT_TYPE, "application/json")
            .header("x-notion-signature", signature)
            .body(Full::new(body))?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        response.into_body().collect().await?;
        Ok(status)
    }
}

/// A signed `page.properties_updated` event as Notion sends it (~600 bytes).
pub(crate) fn page_event(id: &str, page: &str, timestamp: &str) -> String {
    format!(
        r#"{{"id":"{id}","timestamp":"{timestamp}","workspace_id":"13950b26-c203-4f3b-b97d-93ec06319565","workspace_name":"Acme Sim","subscription_id":"29d75c0d-5546-4414-8459-7b7a92f1fc4b","integration_id":"0ef104cd-477e-4e81-8f20-7a4c0d1a1a1b","type":"page.properties_updated","authors":[{{"id":"c7c11cca-1d73-471d-9b6e-bdef51470190","type":"person"}}],"accessible_by":[{{"id":"556a1abf-4f08-40c6-878a-75890d2a88ba","type":"person"}}],"attempt_number":1,"api_version":"2025-09-03","entity":{{"id":"{page}","type":"page"}},"data":{{"parent":{{"id":"13950b26-c203-4f3b-b97d-93ec06319565","type":"space"}},"updated_properties":["title"]}}}}"#
    )
}

/// Now, as Notion writes timestamps (RFC 3339, milliseconds, `Z`).
pub(crate) fn now_iso() -> String {
    Utc::now()
        .trunc_subsecs(3)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A fresh 32-bit tag so event ids of one run never collide with another's.
pub(crate) fn nonce() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (t.as_nanos() as u32) ^ std::process::id().rotate_left(16)
}

/// A UUID-shaped event id: the nonce, the sending task and a sequence number.
pub(crate) fn event_id(nonce: u32, task: usize, n: u64) -> String {
    format!("{nonce:08x}-{:04x}-4000-8000-{n:012x}", task & 0xffff)
}

/// A counter or gauge without labels from a Prometheus text page.
pub(crate) fn metric(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}
