//! `notion-mirror`: parse the command line, load the configuration, set up logging, call
//! into the library, and map the outcome to an exit status (0 ok, 1 failure, 2 bad
//! configuration or usage, 130 interrupted).

use std::process::ExitCode;

use clap::Parser;
use notion_mirror::cli::{Cli, Command};
use notion_mirror::config::{Config, ConfigError};
use notion_mirror::{commands, logging};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        // The demo tells its own story on the terminal; the logs go to a file it names.
        Command::Demo(args) => match notion_mirror::demo::prepare_dir(args.dir.as_deref()) {
            Ok(dir) => logging::init_to_file(&cli.log, &notion_mirror::demo::log_path(&dir)),
            Err(_) => logging::init(&cli.log),
        },
        _ => logging::init(&cli.log),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("notion-mirror: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(dispatch(cli.command));
    match result {
        Ok(code) => code,
        Err(e) => {
            let code = if e.downcast_ref::<ConfigError>().is_some() {
                2
            } else {
                1
            };
            eprintln!("notion-mirror: {}", commands::describe(&e));
            ExitCode::from(code)
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => {
            let config = Config::load(&args.overrides())?;
            config.require_token()?;
            notion_mirror::daemon::run(config).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sync(args) => commands::sync(&args).await,
        Command::Resync(args) => commands::resync(&args),
        Command::Status(args) => commands::status(&args),
        Command::Retry(args) => commands::retry(&args),
        Command::Backup(args) => commands::backup(&args),
        Command::Cat(args) => commands::cat(&args),
        Command::Export(args) => commands::export(&args),
        Command::Changes(args) => commands::changes(&args).await,
        Command::Demo(args) => {
            let options = notion_mirror::demo::DemoOptions {
                seed: args.seed,
                keep: args.keep,
                dir: args.dir,
            };
            notion_mirror::demo::run(options).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sim(args) => {
            notion_mirror::sim::cli::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
