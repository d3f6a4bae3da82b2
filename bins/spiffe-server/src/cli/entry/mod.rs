//! `entry create|update|show|delete|count`: registration entries.

mod batch;
mod create;
mod data;
mod delete;
mod fields;
mod filter;
mod print;
mod show;
mod update;

use anyhow::Result;
use clap::Subcommand;

/// The entry commands.
#[derive(Debug, Clone, Subcommand)]
pub(crate) enum EntryCommand {
    /// Creates registration entries
    Create(create::CreateArgs),
    /// Updates registration entries (replacing every field)
    Update(update::UpdateArgs),
    /// Displays configured registration entries
    Show(show::ShowArgs),
    /// Deletes registration entries
    Delete(delete::DeleteArgs),
    /// Counts registration entries
    Count(show::CountArgs),
}

/// Runs an entry command.
pub(crate) async fn run(cmd: EntryCommand) -> Result<()> {
    match cmd {
        EntryCommand::Create(a) => create::run(a).await,
        EntryCommand::Update(a) => update::run(a).await,
        EntryCommand::Show(a) => show::show(a).await,
        EntryCommand::Delete(a) => delete::run(a).await,
        EntryCommand::Count(a) => show::count(a).await,
    }
}
