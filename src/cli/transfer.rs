//! `tessera user import|export|csv-header`: files, progress bars and the summary around
//! `accounts::transfer`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::admin::{emit, pool};
use crate::accounts::transfer::{self, Checked, Exported, Imported};
use crate::error::Error;
use crate::state::AppState;

fn open(path: &Path) -> Result<BufReader<File>, Error> {
    File::open(path)
        .map(|f| BufReader::with_capacity(1 << 20, f))
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))
}

/// A bar over the file's bytes on stderr (drawn only on a terminal, never with --json).
fn bar(path: &Path, label: &'static str, json: bool) -> ProgressBar {
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len).with_message(label);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:9} [{bar:40}] {bytes}/{total_bytes} ({eta} left)")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

#[derive(Serialize)]
struct ImportReport {
    checked: Checked,
    imported: Option<Imported>,
    seconds: f64,
}

/// Checks the whole file, then (unless `dry_run`) imports it.
pub async fn import(
    app: &AppState,
    id_or_name: &str,
    file: PathBuf,
    dry_run: bool,
    json: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let p = pool(app, id_or_name).await?;
    let started = Instant::now();
    let checking = bar(&file, "checking", json);
    let checked = transfer::check(
        app,
        &p,
        open(&file)?,
        &mut |b| checking.set_position(b),
        now,
    )
    .await;
    checking.finish_and_clear();
    let plan = checked?;
    let imported = if dry_run {
        None
    } else {
        let importing = bar(&file, "importing", json);
        let input = open(&file)?;
        let done = transfer::import(
            app,
            &p,
            &plan,
            input,
            &mut |b| importing.set_position(b),
            now,
        )
        .await;
        importing.finish_and_clear();
        Some(done?)
    };
    let report = ImportReport {
        checked: plan.checked,
        imported,
        seconds: started.elapsed().as_secs_f64(),
    };
    emit(json, &report, || describe(&report))
}

fn describe(r: &ImportReport) -> String {
    let c = &r.checked;
    let mut s = match &r.imported {
        None => format!(
            "{} row(s) checked: {} would be added, {} already present (dry run: nothing written)",
            c.rows, c.new, c.present
        ),
        Some(i) => format!(
            "{} user(s) imported, {} already present, in {:.1} s ({:.0} rows/s)",
            i.added,
            i.skipped,
            r.seconds,
            c.rows as f64 / r.seconds.max(0.001)
        ),
    };
    if c.mfa_dropped > 0 {
        s.push_str(&format!(
            "\nnote: {} user(s) had cognito:mfa_enabled TRUE; MFA factors do not travel in a \
             CSV: they enroll again (at their next sign-in if the pool requires MFA)",
            c.mfa_dropped
        ));
    }
    s
}

/// Writes the pool's users to `output` (or standard output).
pub async fn export(
    app: &AppState,
    id_or_name: &str,
    output: Option<PathBuf>,
    with_password_hashes: bool,
    json: bool,
) -> Result<(), Error> {
    let p = pool(app, id_or_name).await?;
    let Some(path) = output else {
        let mut out = std::io::stdout().lock();
        transfer::export(app, &p, with_password_hashes, &mut out, &mut |_| {}).await?;
        return Ok(());
    };
    let file = create(&path, with_password_hashes)?;
    let mut out = BufWriter::new(file);
    let counting = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner().with_message("users exported")
    };
    let done: Exported = transfer::export(app, &p, with_password_hashes, &mut out, &mut |n| {
        counting.set_position(n)
    })
    .await?;
    counting.finish_and_clear();
    out.flush()
        .map_err(|e| Error::Usage(format!("cannot write {}: {e}", path.display())))?;
    emit(json, &done, || {
        format!(
            "{} user(s) written to {} ({} federated-only and {} unconfirmed left out)",
            done.written,
            path.display(),
            done.federated_skipped,
            done.unconfirmed_skipped
        )
    })
}

/// A new file; readable by its owner only when it will hold password hashes.
fn create(path: &Path, secret: bool) -> Result<File, Error> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    o.open(path)
        .map_err(|e| Error::Usage(format!("cannot create {}: {e}", path.display())))
}

/// The header an import into the pool takes (Cognito's GetCSVHeader plus custom attributes).
pub async fn csv_header(
    app: &AppState,
    id_or_name: &str,
    extended: bool,
    json: bool,
) -> Result<(), Error> {
    let p = pool(app, id_or_name).await?;
    let h = transfer::header(&p, extended);
    emit(json, &h, || h.join(","))
}
