//! Groups through the API (SigV4-signed): `CreateGroup`, `GetGroup`, `UpdateGroup`,
//! `DeleteGroup`, `ListGroups`, `AdminAddUserToGroup`, `AdminRemoveUserFromGroup`,
//! `AdminListGroupsForUser`, `ListUsersInGroup`. The same groups `cognito:groups` carries.

use serde::Deserialize;
use serde_json::{Value, json};

use super::admin::{find, pool};
use super::wire::{self, epoch};
use super::{ApiError, Ctx, input};
use crate::accounts::groups;
use crate::pools::PoolRuntime;
use crate::store::sql::groups::Group;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GroupInput {
    user_pool_id: String,
    #[serde(default)]
    group_name: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    precedence: Option<i64>,
    #[serde(default)]
    role_arn: Option<String>,
}

fn group_type(tenant: &PoolRuntime, g: &Group) -> Value {
    let mut v = json!({
        "GroupName": g.name,
        "UserPoolId": tenant.pool.id.as_str(),
        "Description": g.description,
        "Precedence": g.precedence,
        "CreationDate": epoch(g.created_at),
        "LastModifiedDate": epoch(g.created_at),
    });
    if let Some(role) = &g.role_arn {
        v["RoleArn"] = json!(role);
    }
    v
}

fn required<'a>(v: &'a Option<String>, name: &str) -> Result<&'a str, ApiError> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::invalid_parameter(format!("Missing required parameter {name}")))
}

fn not_found(name: &str) -> ApiError {
    ApiError::resource_not_found(format!("Group {name} not found."))
}

pub async fn dispatch(ctx: &Ctx<'_>, op: &str, body: Value) -> Result<Value, ApiError> {
    let g: GroupInput = input(body)?;
    let tenant = pool(ctx, &g.user_pool_id)?;
    let (app, id) = (ctx.app, &tenant.pool.id);
    if op == "ListGroups" {
        let all = groups::list(app, id).await?;
        let list: Vec<Value> = all.iter().map(|x| group_type(&tenant, x)).collect();
        return Ok(json!({ "Groups": list }));
    }
    if op == "AdminListGroupsForUser" {
        let who = find(ctx, &tenant, required(&g.username, "Username")?).await?;
        let of = groups::of_user(app, id, who.sub.as_str()).await?;
        let list: Vec<Value> = of.iter().map(|x| group_type(&tenant, x)).collect();
        return Ok(json!({ "Groups": list }));
    }
    let name = required(&g.group_name, "GroupName")?;
    let existing = groups::get(app, id, name).await?;
    match op {
        "CreateGroup" => {
            if existing.is_some() {
                return Err(ApiError::group_exists(
                    "A group with the name already exists.",
                ));
            }
            let spec = groups::GroupSpec {
                description: g.description.clone().unwrap_or_default(),
                precedence: g.precedence.unwrap_or(0),
                role_arn: g.role_arn.clone(),
            };
            let made = groups::create(app, id, name, spec, ctx.now).await?;
            return Ok(json!({ "Group": group_type(&tenant, &made) }));
        }
        "GetGroup" => {
            let found = existing.ok_or_else(|| not_found(name))?;
            return Ok(json!({ "Group": group_type(&tenant, &found) }));
        }
        _ => {}
    }
    let current = existing.ok_or_else(|| not_found(name))?;
    match op {
        "UpdateGroup" => {
            let spec = groups::GroupSpec {
                description: g.description.unwrap_or(current.description.clone()),
                precedence: g.precedence.unwrap_or(current.precedence),
                role_arn: g.role_arn.or(current.role_arn.clone()),
            };
            groups::update(app, id, name, spec.clone()).await?;
            let updated = Group {
                description: spec.description,
                precedence: spec.precedence,
                role_arn: spec.role_arn,
                ..current
            };
            Ok(json!({ "Group": group_type(&tenant, &updated) }))
        }
        "DeleteGroup" => {
            groups::delete(app, id, name).await?;
            Ok(json!({}))
        }
        "AdminAddUserToGroup" | "AdminRemoveUserFromGroup" => {
            let who = find(ctx, &tenant, required(&g.username, "Username")?).await?;
            let add = op == "AdminAddUserToGroup";
            groups::set_member(app, id, name, who.sub.as_str(), add).await?;
            Ok(json!({}))
        }
        "ListUsersInGroup" => {
            let members = groups::members(app, id, name).await?;
            let users: Vec<Value> = members
                .iter()
                .map(|u| wire::user(u, "Attributes"))
                .collect();
            Ok(json!({ "Users": users }))
        }
        _ => Err(ApiError::unknown_operation(format!(
            "{op} is not supported"
        ))),
    }
}
