//! `warren ctl --help`: every command with rabbitmqctl's (or
//! rabbitmq-diagnostics') one-line description, grouped as rabbitmqctl
//! groups them; `warren ctl help COMMAND` shows one command's usage.

/// (group, [(command, usage arguments, description)]).
type Group = (
    &'static str,
    &'static [(&'static str, &'static str, &'static str)],
);

/// Every command `warren ctl` runs.
pub const COMMANDS: &[Group] = &[
    (
        "Users",
        &[
            ("add_user", "<username> <password>", "Creates a new user in the internal database. This user will have no permissions for any virtual hosts by default."),
            ("change_password", "<username> <password>", "Changes the user password"),
            ("delete_user", "<username>", "Removes a user from the internal database"),
            ("list_users", "[<column> ...]", "List user names and tags"),
            ("set_user_tags", "<username> <tag> [...]", "Sets user tags"),
        ],
    ),
    (
        "Access Control",
        &[
            ("clear_permissions", "[-p <vhost>] <username>", "Revokes user permissions for a vhost"),
            ("list_permissions", "[-p <vhost>]", "Lists user permissions in a virtual host"),
            ("list_vhosts", "[<column> ...]", "Lists virtual hosts"),
            ("set_permissions", "[-p <vhost>] <username> <conf> <write> <read>", "Sets user permissions for a vhost"),
        ],
    ),
    (
        "Monitoring, observability and health checks",
        &[
            ("alarms", "", "Lists resource alarms (local or cluster-wide) in effect on the target node"),
            ("check_local_alarms", "", "Health check that exits with a non-zero code if the target node reports any alarms"),
            ("check_port_connectivity", "", "Basic TCP connectivity health check for each listener's port on the target node"),
            ("check_running", "", "Health check that exits with a non-zero code if the RabbitMQ app on the target node is not running"),
            ("list_bindings", "[-p <vhost>] [<column> ...]", "Lists all bindings on a vhost"),
            ("list_channels", "[<column> ...]", "Lists all channels in the node"),
            ("list_connections", "[<column> ...]", "Lists AMQP 0.9.1 connections for the node"),
            ("list_consumers", "[-p <vhost>] [<column> ...]", "Lists all consumers for a vhost"),
            ("list_exchanges", "[-p <vhost>] [<column> ...]", "Lists exchanges"),
            ("list_queues", "[-p <vhost>] [<column> ...]", "Lists queues and their properties"),
            ("listeners", "", "Lists ports and protocols the target node listens on"),
            ("memory_breakdown", "[--unit bytes|kb|mb|gb]", "Provides a memory usage breakdown of the node's resident memory (heap, code and mapped files, shared memory)"),
            ("ping", "", "Checks that the node is up and the management API answers"),
            ("status", "", "Displays status of a node"),
        ],
    ),
    (
        "Policies",
        &[
            ("clear_policy", "[-p <vhost>] <name>", "Clears (removes) a policy"),
            ("list_policies", "[-p <vhost>]", "Lists all policies in a virtual host"),
            ("set_policy", "[-p <vhost>] [--priority <n>] [--apply-to queues|exchanges|all] <name> <pattern> <definition>", "Sets or updates a policy"),
        ],
    ),
    (
        "Virtual hosts",
        &[
            ("add_vhost", "<vhost> [--description <text>] [--tags <tags>]", "Creates a virtual host"),
            ("clear_vhost_limits", "[-p <vhost>]", "Clears virtual host limits"),
            ("delete_vhost", "<vhost>", "Deletes a virtual host"),
            ("list_vhost_limits", "[-p <vhost>] [--global]", "Displays configured virtual host limits"),
            ("set_vhost_limits", "[-p <vhost>] <definition>", "Sets virtual host limits"),
        ],
    ),
    (
        "Configuration and Environment",
        &[("environment", "", "Displays the name and value of each setting the running node uses")],
    ),
    (
        "Definitions",
        &[
            ("export_definitions", "<file or ->", "Exports definitions in JSON"),
            ("import_definitions", "<file>", "Imports definitions in JSON"),
        ],
    ),
    (
        "Operations",
        &[
            ("close_all_connections", "[-p <vhost> [--limit <n>]] [--global] <explanation>", "Instructs the broker to close all connections for the specified vhost or entire node"),
            ("close_connection", "<connection name> <explanation>", "Instructs the broker to close the connection with that name"),
        ],
    ),
    (
        "Queues",
        &[
            ("delete_queue", "[-p <vhost>] <queue> [--if-empty] [--if-unused]", "Deletes a queue"),
            ("purge_queue", "[-p <vhost>] <queue>", "Purges a queue (removes all messages in it)"),
        ],
    ),
];

const OPTIONS: &str = "Options: --url URL (default http://localhost:15672, env WARREN_CTL_URL), \
--username/--password (env WARREN_CTL_USER/WARREN_CTL_PASSWORD, default guest), -p VHOST, \
--formatter table|json, -q (quiet), -s (silent).";

/// The usage line of `command`, if it is one.
pub fn usage(command: &str) -> Option<String> {
    COMMANDS
        .iter()
        .flat_map(|(_, cmds)| cmds.iter())
        .find(|(name, _, _)| *name == command)
        .map(|(name, args, _)| {
            format!("warren ctl [options] {name} {args}")
                .trim_end()
                .to_string()
        })
}

/// Prints the command list, or one command's usage and description.
pub fn print(command: Option<&str>) {
    if let Some(command) = command {
        let found = COMMANDS
            .iter()
            .flat_map(|(_, cmds)| cmds.iter())
            .find(|(name, _, _)| *name == command);
        match (found, usage(command)) {
            (Some((_, _, description)), Some(usage)) => {
                println!("Usage\n\n{usage}\n\n{description}\n\n{OPTIONS}")
            }
            _ => println!("Command '{command}' not found."),
        }
        return;
    }
    println!("Usage\n\nwarren ctl [options] <command> [<command options>]\n\n{OPTIONS}\n\nAvailable commands:\n");
    for (group, cmds) in COMMANDS {
        println!("{group}:");
        for (name, _, description) in *cmds {
            println!("   {name:<29} {description}");
        }
        println!();
    }
    println!("Use 'warren ctl help <command>' to learn more about a specific command");
}
