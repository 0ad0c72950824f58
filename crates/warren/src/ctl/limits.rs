//! rabbitmqctl's vhost limit commands over /api/vhost-limits:
//! `set_vhost_limits [-p VHOST] '{"max-connections": 10}'` (replaces the
//! vhost's limits: those not named are cleared, as rabbitmqctl does),
//! `clear_vhost_limits [-p VHOST]` and `list_vhost_limits [-p VHOST] [--global]`.

use serde_json::{json, Value};
use warren_core::vhost_limits::{parse_limits, LimitName};

use super::client::{segment, Client};
use super::commands::CtlError;
use super::output;
use super::Invocation;

type Result<T> = std::result::Result<T, CtlError>;

fn path(inv: &Invocation, name: LimitName) -> String {
    format!(
        "/api/vhost-limits/{}/{}",
        segment(&inv.vhost),
        segment(name.as_str())
    )
}

/// set_vhost_limits: one PUT per limit named, one DELETE per other limit.
pub fn set(client: &Client, inv: &Invocation) -> Result<()> {
    let text = inv.positional.first().ok_or_else(|| {
        CtlError::Usage(
            "usage: warren ctl set_vhost_limits [-p VHOST] '{\"max-connections\": N, \"max-queues\": N}'"
                .into(),
        )
    })?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| CtlError::Usage(format!("vhost limits are not valid JSON: {e}")))?;
    let limits = parse_limits(&value).map_err(|e| CtlError::Usage(e.to_string()))?;
    output::info(
        inv.style,
        &format!(
            "Setting vhost limits to \"{text}\" for vhost \"{}\" ...",
            inv.vhost
        ),
    );
    super::commands::require_vhost(client, &inv.vhost, super::commands::EX_DATAERR)?;
    for name in LimitName::ALL {
        match limits.iter().find(|(n, _)| *n == name) {
            Some((_, n)) => client.request(
                "PUT",
                &path(inv, name),
                Some(json!({"value": n}).to_string()),
                None,
            )?,
            None => client.request("DELETE", &path(inv, name), None, None)?,
        };
    }
    Ok(())
}

/// clear_vhost_limits: one DELETE per limit.
pub fn clear(client: &Client, inv: &Invocation) -> Result<()> {
    output::info(
        inv.style,
        &format!("Clearing vhost \"{}\" limits ...", inv.vhost),
    );
    for name in LimitName::ALL {
        client.request("DELETE", &path(inv, name), None, None)?;
    }
    Ok(())
}

/// list_vhost_limits: the vhost's limits as a JSON object (nothing when none
/// are set), or with `--global` a vhost/limits table of every vhost with one.
pub fn list(client: &Client, inv: &Invocation, global: bool) -> Result<()> {
    if global {
        output::info(inv.style, "Listing limits for all vhosts ...");
        let data = client.request("GET", "/api/vhost-limits", None, None)?;
        let rows: Vec<Vec<Value>> = data
            .as_array()
            .into_iter()
            .flatten()
            .map(|item| {
                let vhost = item.get("vhost").cloned().unwrap_or(Value::Null);
                let value = item
                    .get("value")
                    .map_or(Value::Null, |v| json!(v.to_string()));
                vec![vhost, value]
            })
            .collect();
        output::rows(inv.style, &["vhost".into(), "limits".into()], &rows);
        return Ok(());
    }
    output::info(
        inv.style,
        &format!("Listing limits for vhost \"{}\" ...", inv.vhost),
    );
    let data = client.request(
        "GET",
        &format!("/api/vhost-limits/{}", segment(&inv.vhost)),
        None,
        None,
    )?;
    if let Some(value) = data.get(0).and_then(|item| item.get("value")) {
        println!("{value}");
    }
    Ok(())
}
