//! `max-local`: the whole M.A.X. Living Alerts system on one machine, and the operator's commands.
//!
//! `serve` (the default) migrates the database, creates the demo tenant with a fresh key, and
//! serves every route through the very handlers the Lambda functions run, as API Gateway would
//! call them (`gateway`). The other commands are in `commands`.

mod cli;
mod commands;
mod gateway;
mod serve;
mod server;
mod telemetry;

use std::process::ExitCode;

use clap::Parser;
use shared::config::Config;

use cli::{Cli, Command};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let _telemetry = match telemetry::init() {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("max-local: {error}");
            return ExitCode::FAILURE;
        }
    };
    let cli = Cli::parse();
    let result = match Config::from_env() {
        Err(error) => Err(commands::Error::new(error.to_string())),
        Ok(config) => run(cli.command.unwrap_or_default(), config).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("max-local: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> Result<(), commands::Error> {
    match command {
        Command::Serve(options) => serve::serve(options, config).await,
        Command::Evaluate => commands::evaluate::once(config).await,
        Command::Rules(rules) => commands::rules::run(rules, &config).await,
        Command::Migrate => commands::migrate(&config, true).await.map(drop),
        Command::CreateKey(key) => commands::keys::create(key, &config).await,
        Command::CreateToken { tenant, user, ttl } => {
            commands::tokens::create(&tenant, &user, &ttl, &config)
        }
        Command::RevokeKey { key } => commands::keys::revoke(&key, &config).await,
        Command::ListKeys { tenant } => commands::keys::list(&tenant, &config).await,
        Command::Whatsapp(command) => commands::whatsapp::run(command, &config).await,
        Command::Crm(command) => commands::crm::run(command, &config).await,
        Command::Report {
            tenant,
            from,
            to,
            json,
        } => commands::report::run(&tenant, from.as_deref(), to.as_deref(), json, &config).await,
        Command::TimeZone { tenant, zone } => {
            commands::report::time_zone(&tenant, zone.as_deref(), &config).await
        }
        Command::Lead { tenant, id } => commands::crm::lead(&tenant, &id, &config).await,
    }
}
