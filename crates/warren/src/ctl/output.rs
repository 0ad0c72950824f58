//! rabbitmqctl's output: an informational line, a tab-separated header and
//! rows (or, with `--formatter json`, a JSON array of objects).

use serde_json::{Map, Value};

/// How to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Formatter {
    /// Tab-separated columns with a header, like rabbitmqctl's default.
    Table,
    /// A JSON array of objects.
    Json,
}

/// Output switches.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Table or JSON.
    pub formatter: Formatter,
    /// -q: no informational line.
    pub quiet: bool,
    /// -s: no informational line, no header.
    pub silent: bool,
}

/// One cell as rabbitmqctl shows it.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(cell).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// Prints the informational line unless quiet.
pub fn info(style: Style, text: &str) {
    if !(style.quiet || style.silent) && style.formatter == Formatter::Table {
        println!("{text}");
    }
}

/// Prints rows (each a list of (column, value)).
pub fn rows(style: Style, columns: &[String], rows: &[Vec<Value>]) {
    match style.formatter {
        Formatter::Json => {
            let items: Vec<Value> = rows
                .iter()
                .map(|r| {
                    let map: Map<String, Value> =
                        columns.iter().cloned().zip(r.iter().cloned()).collect();
                    Value::Object(map)
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string(&Value::Array(items)).unwrap_or_default()
            );
        }
        Formatter::Table => {
            if !style.silent {
                println!("{}", columns.join("\t"));
            }
            for r in rows {
                println!("{}", r.iter().map(cell).collect::<Vec<_>>().join("\t"));
            }
        }
    }
}
