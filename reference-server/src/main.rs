//! `reference-server`: runs the facade. Configuration: defaults, then `--config FILE`, then
//! `REFSERVER_*` environment variables, then flags.

use clap::Parser;
use reference_server::{AuthMode, Config};
use std::path::PathBuf;
use std::process::ExitCode;

/// The conformance kit's reference server: an exact, deterministic OpenAI-compatible API.
#[derive(Debug, Parser)]
#[command(
    name = "reference-server",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("REFSERVER_GIT_COMMIT_SHOWN"), ")"),
    about
)]
struct Args {
    /// TOML configuration file (models, auth, limits).
    #[arg(long, env = "REFSERVER_CONFIG")]
    config: Option<PathBuf>,
    /// Address to bind [default: 127.0.0.1].
    #[arg(long)]
    host: Option<String>,
    /// Port to bind; 0 picks a free port [default: 8080].
    #[arg(long)]
    port: Option<u16>,
    /// Token policy: permissive accepts any bearer token, strict only configured ones.
    #[arg(long, value_parser = ["permissive", "strict"])]
    auth_mode: Option<String>,
    /// Do not write a JSON log line per request.
    #[arg(long)]
    quiet: bool,
}

fn load(args: &Args) -> Result<Config, reference_server::ConfigError> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    config.apply_env(std::env::vars())?;
    // The binary persists indexes unless told otherwise (`path = ":memory:"`).
    config
        .indexes
        .path
        .get_or_insert_with(|| reference_server::IndexesConfig::DEFAULT_PATH.to_owned());
    if let Some(host) = &args.host {
        config.host = host.clone();
    }
    if let Some(port) = args.port {
        config.port = port;
    }
    match args.auth_mode.as_deref() {
        Some("strict") => config.auth.mode = AuthMode::Strict,
        Some("permissive") => config.auth.mode = AuthMode::Permissive,
        _ => {}
    }
    if args.quiet {
        config.request_logs = false;
    }
    config.validate()?;
    Ok(config)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let mut config = match load(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("reference-server: {e}");
            return ExitCode::from(2);
        }
    };
    let telemetry = match reference_server::telemetry::init() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("reference-server: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind((config.host.as_str(), config.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "reference-server: cannot bind {}:{}: {e}",
                config.host, config.port
            );
            return ExitCode::from(2);
        }
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("reference-server: {e}");
            return ExitCode::from(1);
        }
    };
    config.port = addr.port();
    // Scripts (and the SDK tests) read the bound address from this first stdout line.
    println!("listening on http://{addr}");
    let result = reference_server::serve(listener, config, shutdown_signal()).await;
    // Flush buffered spans before exiting; the exporter's HTTP client blocks, so off the runtime.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The store's settings are the operator's to fix, like any bad configuration.
        Err(e)
            if e.get_ref()
                .is_some_and(|inner| inner.is::<reference_server::StoreUnreachable>()) =>
        {
            eprintln!("reference-server: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("reference-server: {e}");
            ExitCode::from(1)
        }
    }
}
