//! Email delivery: SMTP through lettre when configured; otherwise every message goes to the
//! log and to `{data_dir}/outbox/` (one file each) so a developer can read codes; tests read an
//! in-memory outbox.

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
        match &self.transport {
            Transport::Memory(store) => {
                store.lock().unwrap_or_else(|e| e.into_inner()).push(sent);
                Ok(())
            }
            Transport::Files(dir) => {
                tracing::info!(to = %to, subject = %subject, "mail written to the outbox (no SMTP configured)");
                write_outbox(dir, &sent, now).await
            }
            Transport::Smtp(smtp) => {
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
                    .map(|_| ())
                    .map_err(|e| MailError::Delivery(e.to_string()))
            }
        }
    }
}

async fn write_outbox(
    dir: &std::path::Path,
    sent: &Sent,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), MailError> {
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
        std::fs::write(dir.join(name), body)
            .map_err(|e| MailError::Delivery(format!("outbox: {e}")))
    })
    .await
    .map_err(|_| MailError::Delivery("outbox task failed".into()))?
}
