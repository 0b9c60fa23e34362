//! Where a finished run goes: the history database of a data directory,
//! a running server, or both.

use std::path::PathBuf;

use vstack_core::wire::RunRecord;

use crate::history::{History, HistoryConfig};

/// Where a CLI tool keeps its run (`cli::RunOutputArgs` parses it). Its
/// `Debug` does not print the token.
#[derive(Debug, Clone, Default)]
pub struct RunOutput {
    /// Also store the run in the history database of this data directory
    /// (`<dir>/history.sqlite3`). Default none.
    pub data_dir: Option<PathBuf>,
    /// Also publish the run to a running dashboard server at this base URL
    /// (`POST /api/runs`). Default none.
    pub publish: Option<String>,
    /// The admin token for `publish` (public mode). Default none.
    pub publish_token: Option<crate::http::secret::Secret>,
}

/// A failure to keep a run.
#[derive(Debug, thiserror::Error)]
pub enum KeepError {
    /// The history database refused.
    #[error(transparent)]
    History(#[from] crate::history::HistoryError),
    /// The server could not be reached.
    #[error("publishing to {url}: {source}")]
    Http {
        /// Where.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The server answered with an error.
    #[error("publishing to {url}: HTTP {status}: {body}")]
    Refused {
        /// Where.
        url: String,
        /// Status.
        status: u16,
        /// Its JSON error.
        body: String,
    },
}

impl RunOutput {
    /// Keeps `run` where the options say; returns one line per place, with
    /// the permalink when published.
    ///
    /// # Errors
    /// [`KeepError`] from the database or the server.
    pub async fn keep(&self, mut run: RunRecord) -> Result<Vec<String>, KeepError> {
        let mut lines = Vec::new();
        if let Some(dir) = &self.data_dir {
            History::open(dir, HistoryConfig::default())
                .await?
                .save_run(&run)
                .await?;
            lines.push(format!(
                "run {} stored in {}",
                run.summary.id,
                dir.join(crate::history::DB_FILE).display()
            ));
        }
        if let Some(base) = &self.publish {
            run.summary.source = "published".into();
            lines.push(
                publish(
                    base,
                    self.publish_token
                        .as_ref()
                        .map(crate::http::secret::Secret::expose),
                    &run,
                )
                .await?,
            );
        }
        Ok(lines)
    }
}

async fn publish(base: &str, token: Option<&str>, run: &RunRecord) -> Result<String, KeepError> {
    let base = base.trim_end_matches('/');
    let url = format!("{base}/api/runs");
    let mut req = reqwest::Client::new().post(&url).json(run);
    if let Some(t) = token.filter(|t| !t.is_empty()) {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.map_err(|source| KeepError::Http {
        url: url.clone(),
        source,
    })?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(KeepError::Refused {
            url,
            status: status.as_u16(),
            body,
        });
    }
    Ok(format!("published: {base}/runs/{}", run.summary.id))
}
