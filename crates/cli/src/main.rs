//! `ostiary`: one binary for every role (DESIGN.md, "Command line").

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ostiary::{admin, client, config, demo, jwt, resource, serve};

// mimalloc: glibc's malloc took a seventh of a token request's time under load (bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "ostiary",
    version,
    about = "OAuth 2.0 and OpenID Connect: authorization server, client and resource server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the authorization server (SQLite in the data directory unless --database says otherwise).
    Serve(serve::ServeOptions),
    /// The three roles of the reference's example on loopback: authorization server, resource
    /// server and client application, ready for a browser and for curl.
    Demo(demo::DemoOptions),
    /// Manage the server configuration, clients, users and tokens.
    Admin(admin::AdminOptions),
    /// The client runtime: server descriptions, client configurations and tokens.
    Client(client::ClientOptions),
    /// Check the configuration `ostiary serve` would start with.
    Config(config::ConfigOptions),
    /// The resource server's validator: check a token from stdin.
    Resource(resource::ResourceOptions),
    /// Make keys and make or read JWTs (JWS, JWE, nested) from scripts.
    #[command(subcommand)]
    Jwt(jwt::JwtCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "warn,ostiary=info".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // One JSON object per line (with the request's id from its span) for log collectors.
    match std::env::var("OSTIARY_LOG_FORMAT").as_deref() {
        Ok("json") => logs.json().with_current_span(true).init(),
        Ok("text") | Err(_) => logs.init(),
        Ok(other) => {
            eprintln!("error: OSTIARY_LOG_FORMAT is {other:?}: it may be \"text\" or \"json\"");
            return ExitCode::from(2);
        }
    }
    let result = match cli.command {
        Command::Jwt(cmd) => jwt::run(cmd),
        Command::Serve(options) => {
            runtime().and_then(|rt| rt.block_on(serve::run(options, Default::default())))
        }
        Command::Demo(options) => runtime().and_then(|rt| rt.block_on(demo::run(options))),
        Command::Admin(options) => runtime().and_then(|rt| rt.block_on(admin::run(options))),
        Command::Client(options) => runtime().and_then(|rt| rt.block_on(client::run(options))),
        Command::Config(options) => runtime().and_then(|rt| rt.block_on(config::run(options))),
        Command::Resource(options) => runtime().and_then(|rt| rt.block_on(resource::run(options))),
    };
    match result {
        Ok(output) => {
            if !output.is_empty() {
                println!("{output}");
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            // One line, so that scripts can show it as it is.
            eprintln!("ostiary: {}", message.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}
