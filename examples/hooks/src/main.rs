//! `ostiary-example-hooks`: `ostiary serve` with this example's hooks (see the crate docs).
//! Its users: alice / alice-password, bob / bob-password; the client `kiosk` signs in directly.

use std::process::ExitCode;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "ostiary-example-hooks",
    about = "ostiary serve, with custom hooks"
)]
struct Cli {
    #[command(flatten)]
    serve: ostiary::serve::ServeOptions,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,ostiary=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let hooks = ostiary_example_hooks::hooks(ostiary_example_hooks::sample_directory(), &["kiosk"]);
    let result = tokio::runtime::Runtime::new()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(ostiary::serve::run(cli.serve, hooks)));
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ostiary-example-hooks: {message}");
            ExitCode::FAILURE
        }
    }
}
