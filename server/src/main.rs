//! The `vstack` binary: parses the command line and hands over to
//! [`vstack::cli::run`]. Errors caused by bad input ([`vstack::cli::BadInput`])
//! exit with code 2, like clap's usage errors; other failures with code 1.

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = vstack::cli::Cli::parse();
    if let Err(e) = vstack::cli::run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(if e.is::<vstack::cli::BadInput>() {
            2
        } else {
            1
        });
    }
}
