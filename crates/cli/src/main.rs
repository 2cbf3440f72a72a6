//! `ostiary`: one binary for every role. Subcommands arrive with the crates that back them; today
//! `jwt` drives the JOSE layer (see DESIGN.md, "Command line").

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;

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
    /// Make keys and make or read JWTs (JWS, JWE, nested) from scripts.
    #[command(subcommand)]
    Jwt(commands::jwt::JwtCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Jwt(cmd) => commands::jwt::run(cmd),
    };
    match result {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            // One line, so that scripts can show it as it is.
            eprintln!("ostiary: {}", message.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
