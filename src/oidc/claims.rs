//! User claims released per scope (OIDC Core §5.4), shared by the ID token and userinfo.

use serde_json::{Map, Value, json};

use crate::model::client::ClientSettings;
use crate::store::sql::users::User;

const PROFILE: &[&str] = &[
    "name",
    "family_name",
    "given_name",
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
];

/// Claims of `user` granted by `scopes` (`sub` included) that `client` may read.
pub fn for_scopes(user: &User, scopes: &[&str], client: &ClientSettings) -> Map<String, Value> {
    let mut out = all_for_scopes(user, scopes);
    out.retain(|k, _| {
        let attribute = match k.as_str() {
            "sub" | "updated_at" => return true,
            "email_verified" => "email",
            "phone_number_verified" => "phone_number",
            other => other,
        };
        client.may_read(attribute)
    });
    out
}

fn all_for_scopes(user: &User, scopes: &[&str]) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("sub".into(), json!(user.sub.as_str()));
    if scopes.contains(&"profile") {
        for k in PROFILE {
            if let Some(v) = user.attributes.get(*k) {
                out.insert((*k).into(), json!(v));
            }
        }
        out.insert("updated_at".into(), json!(user.updated_at.timestamp()));
    }
    if scopes.contains(&"email")
        && let Some(e) = &user.email
    {
        out.insert("email".into(), json!(e));
        out.insert("email_verified".into(), json!(user.email_verified));
    }
    if scopes.contains(&"phone")
        && let Some(p) = &user.phone_number
    {
        out.insert("phone_number".into(), json!(p));
        out.insert(
            "phone_number_verified".into(),
            json!(user.phone_number_verified),
        );
    }
    if scopes.contains(&"profile") {
        for (k, v) in user
            .attributes
            .iter()
            .filter(|(k, _)| k.starts_with("custom:"))
        {
            out.insert(k.clone(), json!(v));
        }
    }
    out
}
