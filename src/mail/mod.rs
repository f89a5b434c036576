//! Email delivery: SMTP through lettre when configured; otherwise every message goes to
//! `{data_dir}/outbox/` (one file each, its path logged) so a developer can read codes; tests
//! read an in-memory outbox. Log lines say where a message went, never what it says, and mask
//! the address.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// The in-memory outbox tests read.
pub type Outbox = Arc<Mutex<Vec<Sent>>>;

/// A message as sent (kept by the file and memory outboxes).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sent {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail configuration: {0}")]
    Config(String),
    #[error("mail delivery failed: {0}")]
    Delivery(String),
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(PathBuf),
    Memory(Outbox),
}

/// The mailer held in `AppState`.
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.transport {
            Transport::Smtp(_) => "smtp",
            Transport::Files(_) => "files",
            Transport::Memory(_) => "memory",
        };
        f.debug_struct("Mailer").field("transport", &kind).finish()
    }
}

#[derive(Template)]
#[template(path = "email/code.txt")]
struct CodeText<'a> {
    intro: &'a str,
    code: &'a str,
    valid_for: &'a str,
}

#[derive(Template)]
#[template(path = "email/code.html")]
struct CodeHtml<'a> {
    intro: &'a str,
    code: &'a str,
    valid_for: &'a str,
}

#[derive(Template)]
#[template(path = "email/notice.txt")]
struct NoticeText<'a> {
    intro: &'a str,
    advice: &'a str,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/notice.html")]
struct NoticeHtml<'a> {
    intro: &'a str,
    advice: &'a str,
    link: &'a str,
}

/// A message that tells the owner of an address something happened, with a link to act on it.
#[derive(Debug, Clone, Copy)]
pub struct Notice<'a> {
    pub subject: &'a str,
    pub intro: &'a str,
    pub advice: &'a str,
    pub link: &'a str,
}

fn rendered(r: Result<String, askama::Error>) -> Result<String, MailError> {
    r.map_err(|e| MailError::Delivery(e.to_string()))
}

impl Mailer {
    /// SMTP from `smtp_url` (`smtp://user:pass@host:587` uses STARTTLS, `smtps://` implicit TLS),
    /// else the file outbox under `outbox_dir`.
    pub fn new(smtp_url: Option<&str>, from: &str, outbox_dir: PathBuf) -> Result<Self, MailError> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| MailError::Config(format!("mail_from {from:?}: {e}")))?;
        let transport = match smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| {
                        MailError::Config(format!(
                            "smtp_url {}: {e}",
                            crate::config::redact_url(url)
                        ))
                    })?
                    .timeout(Some(std::time::Duration::from_secs(10)))
                    .build(),
            ),
            None => Transport::Files(outbox_dir),
        };
        Ok(Self { transport, from })
    }

    /// An in-memory outbox (tests).
    pub fn memory(from: &str) -> Result<(Self, Outbox), MailError> {
        let store = Arc::new(Mutex::new(Vec::new()));
        let mut m = Self::new(None, from, PathBuf::new())?;
        m.transport = Transport::Memory(store.clone());
        Ok((m, store))
    }

    /// Sends a one-time code.
    pub async fn send_code(
        &self,
        to: &str,
        subject: &str,
        intro: &str,
        code: &str,
        valid_for: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), MailError> {
        let render = rendered;
        let text = render(
            CodeText {
                intro,
                code,
                valid_for,
            }
            .render(),
        )?;
        let html = render(
            CodeHtml {
                intro,
                code,
                valid_for,
            }
            .render(),
        )?;
        self.send(to, subject, text, html, now).await
    }

    /// Sends a notice (no code): what happened, what to do, and a link.
    pub async fn send_notice(
        &self,
        to: &str,
        n: Notice<'_>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), MailError> {
        let (intro, advice, link) = (n.intro, n.advice, n.link);
        let text = rendered(
            NoticeText {
                intro,
                advice,
                link,
            }
            .render(),
        )?;
        let html = rendered(
            NoticeHtml {
                intro,
                advice,
                link,
            }
            .render(),
        )?;
        self.send(to, n.subject, text, html, now).await
    }

    async fn send(
        &self,
        to: &str,
        subject: &str,
        text: String,
        html: String,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), MailError> {
        let sent = Sent {
            to: to.to_string(),
            subject: subject.to_string(),
            text: text.clone(),
        };
        let result = match &self.transport {
            Transport::Memory(store) => {
                store.lock().unwrap_or_else(|e| e.into_inner()).push(sent);
                Ok("the in-memory outbox".to_string())
            }
            Transport::Files(dir) => write_outbox(dir, &sent, now)
                .await
                .map(|path| path.display().to_string()),
            Transport::Smtp(smtp) => self.by_smtp(smtp, to, subject, text, html).await,
        };
        let to = masked(to);
        match &result {
            Ok(place) => tracing::info!(to = %to, subject = %subject, "mail delivered to {place}"),
            Err(e) => {
                tracing::warn!(to = %to, subject = %subject, error = %e, "mail not delivered")
            }
        }
        result.map(|_| ())
    }

    async fn by_smtp(
        &self,
        smtp: &AsyncSmtpTransport<Tokio1Executor>,
        to: &str,
        subject: &str,
        text: String,
        html: String,
    ) -> Result<String, MailError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| MailError::Delivery(format!("recipient: {e}")))?;
        let msg = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| MailError::Delivery(e.to_string()))?;
        smtp.send(msg)
            .await
            .map(|_| "the SMTP server".to_string())
            .map_err(|e| MailError::Delivery(e.to_string()))
    }
}

/// An address as logs show it: the first character of the local part and the domain
/// (`a***@example.com`), so a log reader can tell messages apart but not harvest addresses.
pub fn masked(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_string(),
    }
}

/// Writes one message as a file; returns its path.
async fn write_outbox(
    dir: &std::path::Path,
    sent: &Sent,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<PathBuf, MailError> {
    let dir = dir.to_path_buf();
    let sent = sent.clone();
    tokio::task::spawn_blocking(move || {
        crate::crypto::create_private_dir(&dir)
            .map_err(|e| MailError::Delivery(format!("outbox: {e}")))?;
        let name = format!(
            "{}-{}.txt",
            now.format("%Y%m%dT%H%M%S%.6f"),
            uuid::Uuid::new_v4().simple()
        );
        let body = format!(
            "To: {}\nSubject: {}\n\n{}",
            sent.to, sent.subject, sent.text
        );
        let path = dir.join(name);
        std::fs::write(&path, body)
            .map(|()| path)
            .map_err(|e| MailError::Delivery(format!("outbox: {e}")))
    })
    .await
    .map_err(|_| MailError::Delivery("outbox task failed".into()))?
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::{Mailer, masked};

    /// Log output captured in memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_log_names_the_outbox_file_never_the_code_or_the_address() {
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::new(None, "Tessera <no-reply@localhost>", dir.path().into()).unwrap();
        let logs = Captured::default();
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        tracing::subscriber::with_default(subscriber, || {
            runtime.block_on(mailer.send_code(
                "alice@example.com",
                "Your code",
                "Here it is.",
                "731904",
                "1 hour",
                chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            ))
        })
        .unwrap();
        let file = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        assert!(std::fs::read_to_string(&file).unwrap().contains("731904"));
        let line = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert!(line.contains(&file.display().to_string()), "{line}");
        assert!(line.contains("a***@example.com"), "{line}");
        assert!(
            !line.contains("731904") && !line.contains("alice@"),
            "{line}"
        );
    }

    #[test]
    fn logged_addresses_are_masked() {
        assert_eq!(masked("alice@example.com"), "a***@example.com");
        assert_eq!(masked("\u{e9}t\u{e9}@example.com"), "\u{e9}***@example.com");
        assert_eq!(masked("@example.com"), "***@example.com");
        assert_eq!(masked("nobody"), "***");
    }
}
