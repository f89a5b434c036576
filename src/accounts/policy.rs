//! Password policy checks; each violation is explained so the user can fix it.

use crate::ids::Secret;
use crate::model::PasswordPolicy;

/// Longest password accepted (argon2 input is bounded to keep hashing cost predictable).
pub const MAX_PASSWORD_LEN: usize = 256;

/// Checks `pw` against `policy`; the error lists every rule broken.
pub fn check(policy: &PasswordPolicy, pw: &Secret) -> Result<(), String> {
    let pw = pw.expose();
    let n = pw.chars().count();
    let mut broken = Vec::new();
    if n < policy.min_length {
        broken.push(format!("at least {} characters", policy.min_length));
    }
    if n > MAX_PASSWORD_LEN {
        broken.push(format!("at most {MAX_PASSWORD_LEN} characters"));
    }
    if pw.chars().any(char::is_control) {
        broken.push("no control characters".into());
    }
    if policy.require_lowercase && !pw.chars().any(char::is_lowercase) {
        broken.push("a lowercase letter".into());
    }
    if policy.require_uppercase && !pw.chars().any(char::is_uppercase) {
        broken.push("an uppercase letter".into());
    }
    if policy.require_digit && !pw.chars().any(|c| c.is_ascii_digit()) {
        broken.push("a digit".into());
    }
    if policy.require_symbol
        && !pw
            .chars()
            .any(|c| !c.is_alphanumeric() && !c.is_whitespace())
    {
        broken.push("a symbol".into());
    }
    if broken.is_empty() {
        Ok(())
    } else {
        Err(format!("needs {}", broken.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explains_each_rule() {
        let p = PasswordPolicy {
            require_digit: true,
            require_uppercase: true,
            ..Default::default()
        };
        let e = check(&p, &Secret::new("short")).unwrap_err();
        assert!(
            e.contains("8 characters") && e.contains("digit") && e.contains("uppercase"),
            "{e}"
        );
        assert!(check(&p, &Secret::new("Longenough1")).is_ok());
        assert!(check(&PasswordPolicy::default(), &Secret::new("x".repeat(257))).is_err());
    }
}
