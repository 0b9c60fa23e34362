//! The `vstack` binary: parses the command line and hands over to [`vstack::run`].

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = vstack::config::Cli::parse();
    vstack::run(cli).await
}
