//! What RabbitMQ's list endpoints offer on top of the list itself: name
//! filtering (`name`, `use_regex`), sorting (`sort`, `sort_reverse`, dotted
//! keys), column selection (`columns`) and pagination (`page`, `page_size`,
//! answered with the paged envelope RabbitMQ uses).

use std::cmp::Ordering;
use std::collections::HashMap;

use axum::Json;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};

/// Query parameters of a list request.
pub type Query = HashMap<String, String>;

/// Largest page_size RabbitMQ allows.
const MAX_PAGE_SIZE: usize = 500;

/// Looks up a dotted path ("message_stats.publish_details.rate").
pub fn lookup<'a>(item: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(item, |v, key| v.get(key))
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

fn filter(items: Vec<Value>, query: &Query) -> ApiResult<Vec<Value>> {
    let Some(name) = query.get("name").filter(|n| !n.is_empty()) else {
        return Ok(items);
    };
    let matches: Box<dyn Fn(&str) -> bool> = if query.get("use_regex").is_some_and(|v| v == "true")
    {
        let re = regex::Regex::new(name).map_err(ApiError::bad_request)?;
        Box::new(move |s| re.is_match(s))
    } else {
        let needle = name.to_lowercase();
        Box::new(move |s| s.to_lowercase().contains(&needle))
    };
    Ok(items
        .into_iter()
        .filter(|i| i.get("name").and_then(Value::as_str).is_some_and(&matches))
        .collect())
}

fn select_columns(item: &Value, columns: &[&str]) -> Value {
    let mut out = Map::new();
    for column in columns {
        if let Some(value) = lookup(item, column) {
            let parts: Vec<&str> = column.split('.').collect();
            set_path(&mut out, &parts, value.clone());
        }
    }
    Value::Object(out)
}

fn set_path(out: &mut Map<String, Value>, parts: &[&str], value: Value) {
    match parts {
        [] => {}
        [last] => {
            out.insert(last.to_string(), value);
        }
        [first, rest @ ..] => {
            let entry = out
                .entry(first.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(next) = entry {
                set_path(next, rest, value);
            }
        }
    }
}

fn number(query: &Query, key: &str, default: usize) -> ApiResult<usize> {
    match query.get(key) {
        None => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("{key} must be a positive integer"))),
    }
}

/// Applies filtering, sorting, columns and pagination to a list.
pub fn respond(items: Vec<Value>, query: &Query) -> ApiResult<Json<Value>> {
    let total_count = items.len();
    let mut items = filter(items, query)?;
    let sort = query.get("sort").map(String::as_str).unwrap_or("name");
    if !sort.is_empty() {
        items.sort_by(|a, b| compare(lookup(a, sort), lookup(b, sort)));
    }
    if query.get("sort_reverse").is_some_and(|v| v == "true") {
        items.reverse();
    }
    if let Some(columns) = query.get("columns").filter(|c| !c.is_empty()) {
        let columns: Vec<&str> = columns.split(',').map(str::trim).collect();
        items = items.iter().map(|i| select_columns(i, &columns)).collect();
    }
    if !query.contains_key("page") {
        return Ok(Json(Value::Array(items)));
    }
    let page = number(query, "page", 1)?;
    let page_size = number(query, "page_size", 100)?;
    if page == 0 || page_size == 0 || page_size > MAX_PAGE_SIZE {
        return Err(ApiError::bad_request("page_out_of_range"));
    }
    let filtered_count = items.len();
    let page_count = filtered_count.div_ceil(page_size).max(1);
    if page > page_count {
        return Err(ApiError::bad_request("page_out_of_range"));
    }
    let page_items: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .collect();
    Ok(Json(serde_json::json!({
        "filtered_count": filtered_count,
        "item_count": page_items.len(),
        "items": page_items,
        "page": page,
        "page_count": page_count,
        "page_size": page_size,
        "total_count": total_count,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(pairs: &[(&str, &str)]) -> Query {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn filters_sorts_and_pages() {
        let items: Vec<Value> = (1..=5)
            .map(|i| json!({"name": format!("q{i}"), "messages": 10 - i, "x": {"y": i}}))
            .collect();
        let Json(v) = respond(items.clone(), &q(&[("sort", "messages")])).unwrap();
        assert_eq!(v[0]["name"], "q5");
        let Json(v) = respond(
            items.clone(),
            &q(&[
                ("page", "2"),
                ("page_size", "2"),
                ("sort", "x.y"),
                ("sort_reverse", "true"),
            ]),
        )
        .unwrap();
        assert_eq!(v["page_count"], 3);
        assert_eq!(v["items"][0]["name"], "q3");
        assert_eq!(v["total_count"], 5);
        let Json(v) = respond(
            items.clone(),
            &q(&[("name", "^q[12]$"), ("use_regex", "true")]),
        )
        .unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);
        let Json(v) = respond(items.clone(), &q(&[("columns", "name,x.y")])).unwrap();
        assert_eq!(v[0], json!({"name": "q1", "x": {"y": 1}}));
        assert!(respond(items, &q(&[("page", "9")])).is_err());
    }
}
