//! User attributes: the standard OIDC ones with their formats, and the pool's typed, bounded
//! `custom:` attributes (Cognito's schema attributes).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Standard OIDC attributes a user or an admin may set (email has its own column and flow).
pub const STANDARD: &[&str] = &[
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "address",
    "phone_number",
];

/// The longest value of any attribute (Cognito's limit).
pub const MAX_VALUE_CHARS: usize = 2048;
/// Most custom attributes a pool may define (Cognito allows 50).
pub const MAX_CUSTOM: usize = 50;

/// The type of a custom attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CustomKind {
    String,
    Number,
    Boolean,
}

/// A custom attribute of a pool: `custom:{name}` with a type and bounds (length for strings,
/// value for numbers), whether it may change once set (Cognito's `Mutable`), and whether
/// users may set it on themselves (off unless the operator says so: a `custom:role` is not
/// the user's to choose).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomAttribute {
    pub name: String,
    pub kind: CustomKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
    #[serde(default = "yes")]
    pub mutable: bool,
    #[serde(default)]
    pub user_writable: bool,
}

fn yes() -> bool {
    true
}

impl CustomAttribute {
    /// Parses the CLI form `NAME:TYPE[:MIN:MAX][:FLAG...]`, e.g. `team:string:1:32`,
    /// `level:number:0:9`, `beta:boolean:writable`, `role:string:immutable`. The flags:
    /// `writable` (users may set it on themselves), `immutable` (set once, at creation).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut parts = spec.strip_prefix("custom:").unwrap_or(spec).split(':');
        let name = parts.next().unwrap_or_default();
        let mut rest: Vec<&str> = parts.collect();
        let mut flag = |f: &str| {
            let had = rest.contains(&f);
            rest.retain(|p| *p != f);
            had
        };
        let (user_writable, immutable) = (flag("writable"), flag("immutable"));
        if name.is_empty()
            || name.len() > 20
            || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(format!(
                "custom attribute name {name:?}: 1 to 20 letters, digits or _"
            ));
        }
        let kind = match rest.first().copied() {
            Some("string") => CustomKind::String,
            Some("number") => CustomKind::Number,
            Some("boolean") => CustomKind::Boolean,
            other => {
                return Err(format!(
                    "custom attribute {name}: type {other:?} is not string, number or boolean"
                ));
            }
        };
        let bound = |i: usize| -> Result<Option<i64>, String> {
            rest.get(i)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<i64>().map_err(|_| {
                        format!("custom attribute {name}: bound {s:?} is not a number")
                    })
                })
                .transpose()
        };
        let (min, max) = (bound(1)?, bound(2)?);
        if rest.len() > 3 || (kind == CustomKind::Boolean && (min.is_some() || max.is_some())) {
            return Err(format!(
                "custom attribute {name}: too many parts in {spec:?}"
            ));
        }
        if kind == CustomKind::String {
            let max_len = i64::try_from(MAX_VALUE_CHARS).unwrap_or(i64::MAX);
            if min.is_some_and(|m| !(0..=max_len).contains(&m))
                || max.is_some_and(|m| !(1..=max_len).contains(&m))
            {
                return Err(format!(
                    "custom attribute {name}: string lengths must be within 0..{MAX_VALUE_CHARS}"
                ));
            }
        }
        if let (Some(a), Some(b)) = (min, max)
            && a > b
        {
            return Err(format!("custom attribute {name}: min {a} is above max {b}"));
        }
        Ok(Self {
            name: name.to_string(),
            kind,
            min,
            max,
            mutable: !immutable,
            user_writable,
        })
    }

    /// May a user set or change it on themselves?
    pub fn user_may_write(&self) -> bool {
        self.user_writable && self.mutable
    }

    /// The claim name, `custom:{name}`.
    pub fn claim(&self) -> String {
        format!("custom:{}", self.name)
    }

    fn check(&self, v: &str) -> Result<(), String> {
        let claim = self.claim();
        match self.kind {
            CustomKind::String => {
                let n = i64::try_from(v.chars().count()).unwrap_or(i64::MAX);
                let max = self
                    .max
                    .unwrap_or(i64::try_from(MAX_VALUE_CHARS).unwrap_or(i64::MAX));
                if n < self.min.unwrap_or(0) || n > max {
                    return Err(format!(
                        "{claim} must be {} to {max} characters",
                        self.min.unwrap_or(0)
                    ));
                }
            }
            CustomKind::Number => {
                let x: i64 = v
                    .parse()
                    .map_err(|_| format!("{claim} must be a whole number"))?;
                if self.min.is_some_and(|m| x < m) || self.max.is_some_and(|m| x > m) {
                    return Err(format!(
                        "{claim} must be between {} and {}",
                        self.min.map_or("any".into(), |m| m.to_string()),
                        self.max.map_or("any".into(), |m| m.to_string())
                    ));
                }
            }
            CustomKind::Boolean => {
                if v != "true" && v != "false" {
                    return Err(format!("{claim} must be true or false"));
                }
            }
        }
        Ok(())
    }
}

/// Checks the format of one standard attribute's value.
fn check_standard(name: &str, v: &str) -> Result<(), String> {
    let ok = match name {
        "birthdate" => is_birthdate(v),
        "profile" | "picture" | "website" => url::Url::parse(v)
            .ok()
            .is_some_and(|u| matches!(u.scheme(), "https" | "http") && u.host().is_some()),
        "phone_number" => {
            v.len() >= 8
                && v.len() <= 16
                && v.starts_with('+')
                && v[1..].bytes().all(|b| b.is_ascii_digit())
        }
        "locale" => {
            v.len() <= 35
                && v.split(['-', '_']).all(|p| {
                    !p.is_empty() && p.len() <= 8 && p.bytes().all(|b| b.is_ascii_alphanumeric())
                })
        }
        "zoneinfo" => {
            v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b))
        }
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(match name {
            "birthdate" => "birthdate must be YYYY-MM-DD".into(),
            "phone_number" => "phone_number must be in E.164 form, like +14325551212".into(),
            "profile" | "picture" | "website" => format!("{name} must be an http(s) URL"),
            "locale" => "locale must be a language tag, like en-US".into(),
            _ => format!("{name} is not valid"),
        })
    }
}

/// `YYYY-MM-DD`, or `0000-MM-DD` when the year is withheld (OIDC Core 5.1).
fn is_birthdate(v: &str) -> bool {
    if v.len() != 10 {
        return false;
    }
    let year_hidden = v.starts_with("0000-");
    let probe = if year_hidden {
        format!("2000{}", &v[4..])
    } else {
        v.to_string()
    };
    chrono::NaiveDate::parse_from_str(&probe, "%Y-%m-%d").is_ok()
}

/// Checks a whole attribute set against the standard formats and the pool's custom schema;
/// the message names the attribute and the rule.
pub fn check(custom: &[CustomAttribute], attrs: &BTreeMap<String, String>) -> Result<(), String> {
    if attrs.len() > STANDARD.len() + MAX_CUSTOM {
        return Err("too many attributes".into());
    }
    for (k, v) in attrs {
        if v.chars().count() > MAX_VALUE_CHARS || v.chars().any(char::is_control) {
            let k: String = k.chars().take(40).filter(|c| !c.is_control()).collect();
            return Err(format!(
                "{k}: at most {MAX_VALUE_CHARS} characters, no control characters"
            ));
        }
        if let Some(name) = k.strip_prefix("custom:") {
            let Some(def) = custom.iter().find(|c| c.name == name) else {
                let k: String = k.chars().take(40).filter(|c| !c.is_control()).collect();
                return Err(format!("{k} is not a custom attribute of this pool"));
            };
            def.check(v)?;
        } else if STANDARD.contains(&k.as_str()) {
            check_standard(k, v)?;
        } else {
            let k: String = k.chars().take(40).filter(|c| !c.is_control()).collect();
            return Err(format!(
                "unknown attribute {k:?} (standard OIDC names or custom:NAME)"
            ));
        }
    }
    Ok(())
}

/// A friendly label for a standard attribute on the hosted pages.
pub fn label(name: &str) -> &str {
    match name {
        "name" => "Full name",
        "given_name" => "Given name",
        "family_name" => "Family name",
        "middle_name" => "Middle name",
        "nickname" => "Nickname",
        "preferred_username" => "Preferred username",
        "profile" => "Profile page URL",
        "picture" => "Picture URL",
        "website" => "Website",
        "gender" => "Gender",
        "birthdate" => "Birthdate (YYYY-MM-DD)",
        "zoneinfo" => "Time zone (e.g. Europe/Paris)",
        "locale" => "Locale (e.g. en-US)",
        "address" => "Address",
        "phone_number" => "Phone number (+E.164)",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn custom_specs_parse() -> Result<(), String> {
        let team = CustomAttribute::parse("team:string:1:8")?;
        assert_eq!(team.kind, CustomKind::String);
        assert_eq!((team.min, team.max), (Some(1), Some(8)));
        let prefixed = CustomAttribute::parse("custom:level:number:0:9")?;
        assert_eq!(prefixed.name, "level");
        assert_eq!(
            CustomAttribute::parse("beta:boolean")?.kind,
            CustomKind::Boolean
        );
        assert!(CustomAttribute::parse("bad name:string").is_err());
        assert!(CustomAttribute::parse("x:date").is_err());
        assert!(CustomAttribute::parse("x:number:9:1").is_err());
        assert!(CustomAttribute::parse("x:string:0:99999").is_err());
        assert!(CustomAttribute::parse("x:boolean:1:2").is_err());
        let plain = CustomAttribute::parse("role:string")?;
        assert!(plain.mutable && !plain.user_writable && !plain.user_may_write());
        let open = CustomAttribute::parse("team:string:1:8:writable")?;
        assert!(open.user_may_write() && open.max == Some(8));
        let fixed = CustomAttribute::parse("tier:number:immutable:writable")?;
        assert!(!fixed.mutable && !fixed.user_may_write());
        // Definitions stored before the flags existed stay changeable, by admins only.
        let old: CustomAttribute = serde_json::from_str(r#"{"name":"team","kind":"string"}"#)
            .map_err(|e| e.to_string())?;
        assert!(old.mutable && !old.user_writable);
        Ok(())
    }

    #[test]
    fn values_are_checked() -> Result<(), String> {
        let schema = vec![
            CustomAttribute::parse("team:string:1:4")?,
            CustomAttribute::parse("level:number:0:9")?,
            CustomAttribute::parse("beta:boolean")?,
        ];
        assert!(
            check(
                &schema,
                &attrs(&[("custom:team", "ops"), ("custom:level", "3")])
            )
            .is_ok()
        );
        assert!(check(&schema, &attrs(&[("custom:team", "toolong")])).is_err());
        assert!(check(&schema, &attrs(&[("custom:level", "10")])).is_err());
        assert!(check(&schema, &attrs(&[("custom:level", "x")])).is_err());
        assert!(check(&schema, &attrs(&[("custom:beta", "yes")])).is_err());
        assert!(check(&schema, &attrs(&[("custom:other", "1")])).is_err());
        assert!(check(&schema, &attrs(&[("isAdmin", "true")])).is_err());
        assert!(check(&schema, &attrs(&[("birthdate", "1990-02-30")])).is_err());
        assert!(check(&schema, &attrs(&[("birthdate", "0000-12-24")])).is_ok());
        assert!(check(&schema, &attrs(&[("website", "javascript:alert(1)")])).is_err());
        assert!(check(&schema, &attrs(&[("phone_number", "+14325551212")])).is_ok());
        assert!(check(&schema, &attrs(&[("phone_number", "555-1212")])).is_err());
        assert!(check(&schema, &attrs(&[("name", "a\u{7}b")])).is_err());
        assert!(check(&schema, &attrs(&[("name", &"x".repeat(2049))])).is_err());
        Ok(())
    }
}
