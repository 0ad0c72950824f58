//! `warren ctl`: rabbitmqctl's daily commands, with its names, column
//! arguments and output, talking to a running broker through its HTTP API
//! (`--url`, default http://localhost:15672, user guest/guest unless
//! `--username`/`--password` or WARREN_CTL_USER/WARREN_CTL_PASSWORD).

mod client;
mod commands;
mod diagnostics;
mod help;
mod limits;
mod output;

use clap::Args;

use client::{Client, ClientError};
use output::{Formatter, Style};

/// Arguments of `warren ctl` (parsed by hand to accept rabbitmqctl's order;
/// `--help` lists every command).
#[derive(Debug, Args)]
#[command(
    about = "Manage a running broker, like rabbitmqctl (through its HTTP API)",
    disable_help_flag = true
)]
pub struct CtlArgs {
    /// The command and its arguments, as for rabbitmqctl.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Parsed options and positional arguments.
#[derive(Debug)]
pub struct Invocation {
    /// API base URL.
    pub url: String,
    /// User.
    pub user: String,
    /// Password.
    pub password: String,
    /// -p.
    pub vhost: String,
    /// Output style.
    pub style: Style,
    /// Command name.
    pub command: String,
    /// Positional arguments after the command.
    pub positional: Vec<String>,
    /// Flags like --if-empty, --apply-to queues, --priority 1.
    pub flags: Vec<(String, Option<String>)>,
}

/// Exit codes as rabbitmqctl uses them.
pub const EX_USAGE: i32 = 64;
/// The broker could not be reached.
pub const EX_UNAVAILABLE: i32 = 69;

const VALUE_FLAGS: &[&str] = &[
    "--apply-to",
    "--priority",
    "--description",
    "--tags",
    "--limit",
    "--unit",
];

fn parse(args: Vec<String>) -> Result<Invocation, String> {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let mut inv = Invocation {
        url: env("WARREN_CTL_URL", "http://localhost:15672"),
        user: env("WARREN_CTL_USER", "guest"),
        password: env("WARREN_CTL_PASSWORD", "guest"),
        vhost: "/".into(),
        style: Style {
            formatter: Formatter::Table,
            quiet: false,
            silent: false,
        },
        command: String::new(),
        positional: Vec::new(),
        flags: Vec::new(),
    };
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--url" => inv.url = value("--url")?,
            "--username" | "-u" => inv.user = value("--username")?,
            "--password" => inv.password = value("--password")?,
            "-p" | "--vhost" => inv.vhost = value("-p")?,
            "-n" | "--node" => {
                value("-n")?;
            }
            "-q" | "--quiet" => inv.style.quiet = true,
            "-h" | "--help" if inv.command.is_empty() => inv.command = "--help".into(),
            "-s" | "--silent" => inv.style.silent = true,
            "--formatter" => {
                inv.style.formatter = match value("--formatter")?.as_str() {
                    "json" => Formatter::Json,
                    "table" => Formatter::Table,
                    other => return Err(format!("unknown formatter '{other}'")),
                }
            }
            flag if VALUE_FLAGS.contains(&flag) => {
                let v = value(flag)?;
                inv.flags.push((flag.to_string(), Some(v)));
            }
            flag if flag.starts_with("--") => inv.flags.push((flag.to_string(), None)),
            _ if inv.command.is_empty() => inv.command = arg,
            _ => inv.positional.push(arg),
        }
    }
    if inv.command.is_empty() {
        return Err("no command given (try `warren ctl --help`)".into());
    }
    if inv.command == "help" {
        inv.command = "--help".into();
    }
    Ok(inv)
}

/// Runs a ctl invocation; returns the process exit code.
pub fn run(args: CtlArgs) -> i32 {
    let inv = match parse(args.args) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("Error: {e}");
            return EX_USAGE;
        }
    };
    if inv.command == "--help" {
        help::print(inv.positional.first().map(String::as_str));
        return 0;
    }
    let client = Client::new(&inv.url, &inv.user, &inv.password);
    match commands::dispatch(&client, &inv) {
        Ok(()) => 0,
        Err(commands::CtlError::Usage(text)) => {
            eprintln!("Error: {text}");
            EX_USAGE
        }
        Err(commands::CtlError::Client(e @ ClientError::Unreachable { .. })) => {
            eprintln!("Error: {e}. Is Warren running, and is --url right?");
            EX_UNAVAILABLE
        }
        Err(commands::CtlError::Client(e @ ClientError::Api { status: 401, .. })) => {
            eprintln!(
                "Error:\n{e} (user '{}' could not authenticate with the broker's HTTP API)",
                inv.user
            );
            EX_UNAVAILABLE
        }
        Err(commands::CtlError::Client(e)) => {
            eprintln!("Error:\n{e}");
            commands::EX_SOFTWARE
        }
        Err(commands::CtlError::Io(e)) => {
            eprintln!("Error: {e}");
            commands::EX_DATAERR
        }
        Err(commands::CtlError::Failed { code, text }) => {
            eprintln!("Error:\n{text}");
            code
        }
    }
}
