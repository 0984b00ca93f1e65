//! Wiring: opens the store, builds the one Notion client, spawns every long-lived task
//! (HTTP ingress, worker pool, reconciler, schedules, watchdog) under one shutdown token,
//! and handles signals and systemd notification for `notion-mirror run`.
//!
//! Invariants: migrations run and the listener is bound before READY=1; every task is
//! spawned here and stops on the same `CancellationToken`; shutdown order is: stop
//! accepting (HTTP), stop claiming (workers drain in-flight items within the deadline),
//! stop the reconciler, then close the store (final commit + WAL checkpoint).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::fetch::{Ctx, FetchOptions};
use crate::metrics::Metrics;
use crate::mirror::{read, Store};
use crate::notion::{Client, ClientConfig, NotionError};
use crate::pidfile::PidFile;
use crate::reconcile::{self, Settler, SweepKind, SweepOptions, Triggers};
use crate::webhook::ingest::Tokens;
use crate::webhook::limits;
use crate::webhook::server::{self, Ingress};
use crate::{queue, worker};

/// Settings key of a resync asked for and not settled yet.
pub const RESYNC_PENDING: &str = "resync.pending";

/// Builds the fetch context (store + client) shared by `run`, `sync` and the tests.
pub fn context(config: &Config, store: Store, metrics: Arc<Metrics>) -> anyhow::Result<Ctx> {
    let token = config.require_token()?.clone();
    let mut client_config = ClientConfig::new(&config.api_url, token);
    client_config.rate = config.rate;
    client_config.burst = config.burst;
    client_config.max_in_flight = config.max_in_flight;
    client_config.timeout = config.request_timeout;
    client_config.version = config.notion_version;
    client_config.filter_properties_budget = config.filter_properties_budget;
    let client = Client::new(client_config, metrics.clone())?;
    let options = FetchOptions {
        scan_block_comments: config.scan_block_comments,
        overlap: config.overlap,
        max_attempts: config.max_attempts,
        retry_base: config.retry_base,
        event_grace: config.event_grace,
    };
    Ok(Ctx::new(client, store, options, metrics))
}

/// A running daemon (tests drive this directly; `run` wraps it with signals).
pub struct Daemon {
    pub addr: SocketAddr,
    pub ctx: Ctx,
    pub triggers: Arc<Triggers>,
    pub shutdown: CancellationToken,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
    scheduler: Option<tokio_cron_scheduler::JobScheduler>,
    deadline: Duration,
}

/// Opens everything and spawns the tasks. The mirror is migrated and the listener bound
/// when this returns.
pub async fn start(config: &Config) -> anyhow::Result<Daemon> {
    let store = Store::open_with(&config.db_path, config.store_options())?;
    let interrupted = store
        .write(crate::mirror::write::close_interrupted_runs)
        .await?;
    if interrupted > 0 {
        tracing::info!(
            sweeps = interrupted,
            "sweeps a previous process did not finish are recorded as interrupted"
        );
    }
    let recovered = store
        .write(|c| {
            queue::forget_sweeps(c, None)?;
            queue::recover(c)
        })
        .await?;
    if recovered > 0 {
        tracing::info!(
            items = recovered,
            "work left running by a previous process is pending again"
        );
    }
    let metrics = Arc::new(Metrics::new());
    let ctx = context(config, store.clone(), metrics.clone())?;
    let reindex_files = crate::files::configure(&store, &config.files).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {} (NOTION_MIRROR_LISTEN)", config.listen))?;
    let addr = listener.local_addr()?;
    let tokens = Arc::new(Tokens::load(&store, config.webhook_token.clone()).await?);
    let shutdown = CancellationToken::new();
    let triggers = Arc::new(Triggers::default());
    let worker_alive = Arc::new(AtomicBool::new(true));
    let mut tasks = Vec::new();

    let ingress = Arc::new(Ingress {
        store: store.clone(),
        tokens: tokens.clone(),
        metrics: metrics.clone(),
        debounce: config.debounce,
        wake: ctx.wake.clone(),
        webhooks_enabled: config.webhooks_enabled,
        worker_alive: worker_alive.clone(),
        limits: limits::effective(config.http, limits::fd_soft_limit()),
        rate: config.rate,
    });
    let grace = Duration::from_secs(2).min(config.shutdown_timeout.max(Duration::from_millis(500)));
    tasks.push((
        "http",
        tokio::spawn(server::serve(
            listener,
            ingress,
            shutdown.child_token(),
            grace,
        )),
    ));

    let (pool_ctx, pool_stop, size, deadline) = (
        ctx.clone(),
        shutdown.child_token(),
        config.workers,
        config.shutdown_timeout,
    );
    tasks.push((
        "workers",
        tokio::spawn(async move {
            worker::run(pool_ctx, size, pool_stop, deadline).await;
            worker_alive.store(false, Ordering::Relaxed);
        }),
    ));

    let files = files_pool(config, &ctx, reindex_files, &shutdown, &mut tasks)?;
    let sweep_options = SweepOptions {
        full_sweep_comments: config.full_sweep_comments,
        event_retention: config.event_retention,
        history_retention: config.history_retention,
        webhooks_enabled: config.webhooks_enabled,
        files,
    };
    spawn_outbound(config, &store, &metrics, &shutdown, &mut tasks).await?;
    let settler = Arc::new(Settler::default());
    tasks.push((
        "reconciler",
        tokio::spawn(reconcile::run(
            ctx.clone(),
            sweep_options,
            triggers.clone(),
            settler.clone(),
            shutdown.child_token(),
        )),
    ));
    let (settle_ctx, settle_stop, watcher) = (ctx.clone(), shutdown.child_token(), settler.clone());
    tasks.push((
        "settler",
        tokio::spawn(async move { watcher.run(settle_ctx, settle_stop).await }),
    ));
    let owed = store.read(read::owed_sweep).await?;
    match owed {
        Some("resync") => {
            tracing::info!("a resync was asked for and did not finish: resyncing");
            triggers.request(SweepKind::Resync);
        }
        Some(_) => {
            tracing::info!("the mirror never finished a full sweep: starting with one");
            triggers.request(SweepKind::Full);
        }
        None => {}
    }
    // How far behind, a restored copy, sweeps left unsettled: see `resume.rs`.
    let resume =
        crate::resume::on_start(&store, &config.db_path, &triggers, &settler, owed.is_some());
    if let Err(e) = resume.await {
        tracing::warn!(error = %e, "cannot look at how far behind the mirror is; the scheduled sweeps catch up");
    }
    let scheduler = schedule(config, &triggers).await?;
    let crons = [
        ("incremental", config.incremental_cron.clone()),
        ("presence", config.presence_cron.clone()),
        ("full", config.full_cron.clone()),
    ];
    store
        .write(move |c| {
            for (kind, cron) in &crons {
                crate::mirror::write::set_setting(c, &crate::status::schedule_key(kind), cron)?;
            }
            Ok(())
        })
        .await?;
    // Reported in the background: READY must not wait on the network (a hung network at
    // boot would otherwise outlast systemd's start timeout).
    tokio::spawn(check_token(ctx.client.clone(), store.clone()));
    if !config.webhooks_enabled {
        tracing::info!(cron = %config.incremental_cron, "webhooks are off: polling only (incremental sweeps keep the mirror current)");
    }
    tracing::info!(listen = %addr, db = %config.db_path.display(), "notion-mirror running");
    Ok(Daemon {
        addr,
        ctx,
        triggers,
        shutdown,
        tasks,
        scheduler: Some(scheduler),
        deadline: config.shutdown_timeout,
    })
}

/// Starts the file downloads (and, when references must be derived again, that job):
/// returns what full sweeps need for files.
fn files_pool(
    config: &Config,
    ctx: &Ctx,
    reindex: bool,
    shutdown: &CancellationToken,
    tasks: &mut Vec<(&'static str, JoinHandle<()>)>,
) -> anyhow::Result<Option<crate::files::FileSweep>> {
    if !config.files.enabled {
        tracing::info!("files are off (--no-files): attachments are not archived");
        return Ok(None);
    }
    let mode = config.files.mode();
    if reindex {
        let store = ctx.store.clone();
        tasks.push((
            "files-index",
            tokio::spawn(async move {
                if let Err(e) = crate::files::index_all(&store, mode).await {
                    tracing::error!(error = %e, "cannot derive file references");
                }
            }),
        ));
    }
    let pool = crate::files::Pool::new(ctx.clone(), &config.files)?;
    let blobs = pool.blobs().clone();
    tasks.push(("files", tokio::spawn(pool.run(shutdown.child_token()))));
    Ok(Some(crate::files::FileSweep { blobs, mode }))
}

/// Records the `[[outbound]]` destinations in the mirror and spawns one delivery task
/// each (their own HTTP client; the Notion client and the queue are not theirs).
async fn spawn_outbound(
    config: &Config,
    store: &Store,
    metrics: &Arc<Metrics>,
    shutdown: &CancellationToken,
    tasks: &mut Vec<(&'static str, JoinHandle<()>)>,
) -> anyhow::Result<()> {
    let destinations = config.outbound.clone();
    let registered = destinations.clone();
    let cursors = store
        .write(move |c| crate::outbound::register(c, &registered))
        .await?;
    if destinations.is_empty() {
        return Ok(());
    }
    let client = crate::outbound::deliver::client()
        .context("cannot build the HTTP client for outbound webhooks")?;
    for (destination, cursor) in destinations.into_iter().zip(cursors) {
        tracing::info!(destination = %destination.name, url = %crate::outbound::origin(&destination.url), cursor, "outbound webhook deliveries start");
        let delivery = crate::outbound::deliver::Delivery {
            store: store.clone(),
            path: config.db_path.clone(),
            destination,
            client: client.clone(),
            metrics: metrics.clone(),
        };
        tasks.push((
            "outbound",
            tokio::spawn(delivery.run(cursor, shutdown.child_token())),
        ));
    }
    Ok(())
}

async fn schedule(
    config: &Config,
    triggers: &Arc<Triggers>,
) -> anyhow::Result<tokio_cron_scheduler::JobScheduler> {
    use tokio_cron_scheduler::{Job, JobScheduler};
    let scheduler = JobScheduler::new()
        .await
        .context("cannot start the scheduler")?;
    for (kind, cron) in [
        (SweepKind::Incremental, &config.incremental_cron),
        (SweepKind::Presence, &config.presence_cron),
        (SweepKind::Full, &config.full_cron),
    ] {
        let triggers = triggers.clone();
        let job = Job::new_async(cron.as_str(), move |_, _| {
            let triggers = triggers.clone();
            Box::pin(async move { triggers.request(kind) })
        })
        .with_context(|| format!("invalid {} schedule `{cron}`", kind.as_str()))?;
        scheduler.add(job).await.context("cannot add a schedule")?;
    }
    scheduler
        .start()
        .await
        .context("cannot start the scheduler")?;
    Ok(scheduler)
}

/// One users/me call at start: a rejected token is reported at once (webhooks are still
/// stored, work retries slowly until the token is fixed); the answer names the workspace
/// `status` shows.
async fn check_token(client: Client, store: Store) {
    match client.users_me().await {
        Ok(me) => crate::workspace::record(&store, &me).await,
        Err(e @ NotionError::Unauthorized(_)) => {
            tracing::error!(error = %e, "the Notion token is rejected; events are still stored and will be processed once it is fixed")
        }
        Err(e) => tracing::warn!(error = %e, "cannot check the Notion token yet"),
    }
}

impl Daemon {
    /// Asks for a resync, remembered in the mirror until it settles (a restart meanwhile
    /// resumes it).
    pub async fn request_resync(&self) {
        let remembered = self
            .ctx
            .store
            .write(|c| {
                crate::mirror::write::set_setting(c, RESYNC_PENDING, &crate::mirror::now_iso())
            })
            .await;
        if let Err(e) = remembered {
            tracing::warn!(error = %e, "cannot record the resync request; resyncing anyway");
        }
        self.triggers.request(SweepKind::Resync);
    }

    /// Stops every task and closes the store. Every task listens to the one token, so
    /// they wind down together: the listener drains (2 s at most), the workers let
    /// in-flight items finish until the deadline and then cancel them (they stay queued),
    /// an unfinished sweep is dropped (its listings are kept, its watermark is not moved).
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(mut scheduler) = self.scheduler.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), scheduler.shutdown()).await;
        }
        let limit = self.deadline + Duration::from_secs(2);
        for (name, task) in self.tasks.drain(..) {
            match tokio::time::timeout(limit, task).await {
                Ok(_) => {}
                Err(_) => tracing::warn!(task = name, "did not stop within the deadline"),
            }
        }
        self.ctx.store.close();
    }
}

/// `notion-mirror run`: the daemon with signals, pid file and systemd notification.
pub async fn run(config: Config) -> anyhow::Result<()> {
    // Taken before the mirror is opened: a second daemon on the same mirror stops here.
    let pid_path = take_pid_file(&config.pid_path())?;
    limits::raise_fd_limit();
    let daemon = start(&config).await?;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    let watchdog = spawn_watchdog(&daemon);

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                tracing::info!("SIGHUP: resync requested (everything is refetched; webhook work keeps priority)");
                daemon.request_resync().await;
            }
        }
    }
    tracing::info!("stopping: finishing in-flight work (a second signal stops at once)");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    if let Some(w) = watchdog {
        w.abort();
    }
    let stop = daemon.stop();
    tokio::pin!(stop);
    tokio::select! {
        _ = &mut stop => {}
        _ = term.recv() => { tracing::warn!("second signal: stopping now"); remove_pid(&pid_path); std::process::exit(130); }
        _ = int.recv() => { tracing::warn!("second signal: stopping now"); remove_pid(&pid_path); std::process::exit(130); }
    }
    remove_pid(&pid_path);
    tracing::info!("stopped");
    Ok(())
}

fn spawn_watchdog(daemon: &Daemon) -> Option<JoinHandle<()>> {
    let interval = sd_notify::watchdog_enabled()? / 2;
    let store = daemon.ctx.store.clone();
    let stop = daemon.shutdown.clone();
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    // Only a writer whose commits reach the disk earns the ping: a wedged
                    // or failing store gets us restarted.
                    if crate::webhook::handlers::commits_work(&store).await {
                        let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                    }
                }
                _ = stop.cancelled() => return,
            }
        }
    }))
}

/// The pid file (see `pidfile.rs`): a refusal (symlink, another daemon) stops `run`; an
/// unwritable directory only costs `resync` its way to this daemon.
fn take_pid_file(path: &std::path::Path) -> anyhow::Result<Option<PidFile>> {
    match PidFile::acquire(path) {
        Ok(pid_file) => Ok(Some(pid_file)),
        Err(e) if e.is_refusal() => Err(e.into()),
        Err(e) => {
            tracing::warn!(error = %e, "no pid file (`notion-mirror resync` will not find this daemon)");
            Ok(None)
        }
    }
}

fn remove_pid(pid_file: &Option<PidFile>) {
    if let Some(pid_file) = pid_file {
        pid_file.remove();
    }
}
