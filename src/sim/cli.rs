//! `notion-mirror sim`: run the simulated Notion API (and optionally its webhook sender and
//! a stream of random edits) until Ctrl-C.
//!
//! Invariant: the first stdout lines are `api: <url>` and `token: <token>` (plus
//! `webhook verification token: <tok>` with `--webhook-url`), so scripts can read them.

use std::net::SocketAddr;
use std::time::Duration;

use super::{GenConfig, Knobs, MutationMix, RateLimit, Sim, SimConfig};

fn non_negative(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("`{s}` must be ≥ 0"))
    }
}

fn probability(s: &str) -> Result<f64, String> {
    let v = non_negative(s)?;
    if v <= 1.0 {
        Ok(v)
    } else {
        Err(format!("`{s}` must be between 0 and 1"))
    }
}

/// Flags of `notion-mirror sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:18700")]
    pub listen: SocketAddr,
    /// Generator seed (same seed, same workspace).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Target page count (standalone pages + data source rows).
    #[arg(long, default_value_t = 80)]
    pub pages: usize,
    /// Also generate the heavy edge cases (>250-row source, >100 children/comments).
    #[arg(long)]
    pub heavy: bool,
    /// Also generate the Markdown showcase page (every block type and annotation; try
    /// `notion-mirror export` on it).
    #[arg(long)]
    pub showcase: bool,
    /// Deliver webhook events to this URL (sends the verification request first).
    #[arg(long)]
    pub webhook_url: Option<String>,
    /// Requests per second per token (0 = unlimited).
    #[arg(long, default_value = "3", value_parser = non_negative)]
    pub rate_limit: f64,
    /// Probability of a random 500/502/503/504 answer.
    #[arg(long, default_value = "0", value_parser = probability)]
    pub fail_rate: f64,
    /// Latency added to every API answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// How far search lags behind edits, in milliseconds (Notion's index is not
    /// immediate; 0 makes search consistent).
    #[arg(long, default_value_t = 1000)]
    pub search_lag_ms: u64,
    /// Keep applying random edits at this many per second (0 = none).
    #[arg(long, default_value = "0", value_parser = non_negative)]
    pub churn: f64,
    /// Bearer token the API accepts (default `ntn_sim_<seed>`).
    #[arg(long)]
    pub token: Option<String>,
    /// The workspace's name, as users/me and webhooks give it (default `Acme Sim`).
    #[arg(long, value_name = "NAME")]
    pub workspace_name: Option<String>,
}

impl SimArgs {
    /// The simulator configuration these flags describe.
    pub fn config(&self) -> SimConfig {
        let generator = GenConfig {
            pages: self.pages,
            heavy_edge_cases: self.heavy,
            showcase: self.showcase,
            api_2026: !self.showcase,
            ..GenConfig::small(self.seed)
        };
        let mut config = SimConfig::new(generator);
        config.listen = self.listen;
        if let Some(t) = &self.token {
            config.token = t.clone();
        }
        config.workspace_name = self.workspace_name.clone();
        config.knobs = Knobs {
            rate_limit: (self.rate_limit > 0.0).then_some(RateLimit {
                rate: self.rate_limit,
                burst: (self.rate_limit * 3.0).max(10.0),
            }),
            fail_rate: self.fail_rate,
            latency: Duration::from_millis(self.latency_ms),
            search_lag: Duration::from_millis(self.search_lag_ms),
            ..Knobs::default()
        };
        config
    }
}

/// Runs the simulator until Ctrl-C.
pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    let sim = Sim::start(args.config()).await?;
    println!("api: {}", sim.base_url());
    println!("token: {}", sim.token());
    if let Some(url) = &args.webhook_url {
        let config = sim.default_webhook_config(url);
        println!("webhook verification token: {}", config.verification_token);
        sim.start_webhooks(config);
        if let Some(sender) = sim.webhooks() {
            tokio::spawn(async move {
                match sender.send_verification().await {
                    Ok(status) => tracing::info!(status, "sim: webhook verification request sent"),
                    Err(e) => {
                        tracing::warn!(error = %e, "sim: webhook verification request failed")
                    }
                }
            });
        }
    }
    let stats = sim.read(|ws| (ws.pages.len(), ws.blocks.len(), ws.comments.len()));
    tracing::info!(
        pages = stats.0,
        blocks = stats.1,
        comments = stats.2,
        "sim: workspace generated"
    );
    let churn = (args.churn > 0.0).then(|| {
        let sim = sim.clone();
        // At least 1 ms apart, at most an hour (an interval of zero would panic).
        let period = Duration::try_from_secs_f64(1.0 / args.churn)
            .unwrap_or(Duration::from_secs(3600))
            .clamp(Duration::from_millis(1), Duration::from_secs(3600));
        let seed = args.seed;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut n: u64 = 0;
            loop {
                tick.tick().await;
                n += 1;
                let applied = sim.mutate_random(
                    seed.wrapping_mul(1_000_003).wrapping_add(n),
                    1,
                    MutationMix::default(),
                );
                for m in applied {
                    tracing::info!(mutation = ?m, "sim: churn");
                }
            }
        })
    });
    tokio::signal::ctrl_c().await?;
    tracing::info!("sim: stopping");
    if let Some(c) = churn {
        c.abort();
    }
    sim.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cmd {
        #[command(flatten)]
        sim: SimArgs,
    }

    fn parse(args: &[&str]) -> Result<SimArgs, clap::Error> {
        let mut argv = vec!["sim"];
        argv.extend_from_slice(args);
        Cmd::try_parse_from(argv).map(|c| c.sim)
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let a = parse(&[]).expect("defaults parse");
        assert_eq!(a.listen.to_string(), "127.0.0.1:18700");
        assert_eq!((a.seed, a.pages), (1, 80));
        let c = a.config();
        assert_eq!(c.token, "ntn_sim_1");
        assert_eq!(c.knobs.rate_limit.map(|r| r.rate), Some(3.0));
        assert_eq!(c.generator, GenConfig::small(1));
    }

    #[test]
    fn flags_become_knobs() {
        let a = parse(&[
            "--seed",
            "9",
            "--pages",
            "120",
            "--rate-limit",
            "0",
            "--fail-rate",
            "0.25",
            "--latency-ms",
            "15",
            "--search-lag-ms",
            "500",
            "--token",
            "ntn_x",
            "--churn",
            "2",
        ])
        .expect("parses");
        let c = a.config();
        assert_eq!(c.token, "ntn_x");
        assert_eq!(c.generator.pages, 120);
        assert!(c.knobs.rate_limit.is_none());
        assert_eq!(c.knobs.fail_rate, 0.25);
        assert_eq!(c.knobs.latency, Duration::from_millis(15));
        assert_eq!(c.knobs.search_lag, Duration::from_millis(500));
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        for args in [
            &["--rate-limit", "-1"][..],
            &["--rate-limit=-1"],
            &["--fail-rate", "1.5"],
            &["--fail-rate", "x"],
            &["--listen", "localhost:nope"],
        ] {
            let e = parse(args).expect_err("rejected");
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
    }
}
