//! What the control API shows of cluster mode: the node list and the metrics.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use switchboard_control_api::model::{NodeView, NodesView, RedisStatusView};

use super::Link;

/// The node list: this node alone outside cluster mode.
pub fn nodes_view(link: Option<&Link>, listen: &str, control: &str, started_ms: u64) -> NodesView {
    let Some(link) = link else {
        return NodesView {
            mode: "single".into(),
            redis: None,
            nodes: vec![NodeView {
                name: "local".into(),
                number: 0,
                listen: listen.into(),
                control: Some(control.into()),
                started_ms,
                heartbeat_ms: switchboard_driver::os::wall_clock_ms(),
                this_node: true,
                router: true,
            }],
        };
    };
    let status = link.status();
    NodesView {
        mode: "cluster".into(),
        redis: Some(RedisStatusView {
            connected: link.redis_up(),
            url: link.url_redacted().into(),
            last_error: status.last_error.clone(),
        }),
        nodes: status
            .nodes
            .iter()
            .map(|n| NodeView {
                name: n.name.clone(),
                number: n.number,
                listen: n.listen.clone(),
                control: n.control.clone(),
                started_ms: n.started_ms,
                heartbeat_ms: n.heartbeat_ms,
                this_node: n.number == link.node(),
                router: n.number == link.leader(),
            })
            .collect(),
    }
}

/// Prometheus text of the cluster counters (empty outside cluster mode).
pub fn metrics(link: Option<&Link>) -> String {
    let Some(link) = link else {
        return String::new();
    };
    let c = link.counters();
    let mut text = String::new();
    let gauge = |text: &mut String, name: &str, help: &str, value: u64| {
        let _ = write!(
            text,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        );
    };
    gauge(
        &mut text,
        "switchboard_cluster_redis_up",
        "Whether the last talk with Redis worked.",
        u64::from(link.redis_up()),
    );
    gauge(
        &mut text,
        "switchboard_cluster_node",
        "This node's number in the cluster.",
        u64::from(link.node()),
    );
    gauge(
        &mut text,
        "switchboard_cluster_leader",
        "Number of the node that runs the router (0: none).",
        u64::from(link.leader()),
    );
    gauge(
        &mut text,
        "switchboard_cluster_nodes",
        "Nodes alive in the registry.",
        link.status().nodes.len() as u64,
    );
    let counters = [
        (
            "switchboard_cluster_sent_total",
            "Messages published to other nodes.",
            &c.sent,
        ),
        (
            "switchboard_cluster_received_total",
            "Messages received from other nodes.",
            &c.received,
        ),
        (
            "switchboard_cluster_persisted_total",
            "Fenced conversation writes that reached Redis.",
            &c.persisted,
        ),
        (
            "switchboard_cluster_fenced_total",
            "Writes refused because another node owns the conversation now.",
            &c.fenced,
        ),
        (
            "switchboard_cluster_unavailable_total",
            "Writes and lookups that failed because Redis was unavailable.",
            &c.unavailable,
        ),
        (
            "switchboard_cluster_queue_full_total",
            "Requests refused because the bridge queue was full.",
            &c.queue_full,
        ),
        (
            "switchboard_cluster_takeovers_total",
            "Conversations taken over from dead nodes.",
            &c.takeovers,
        ),
        (
            "switchboard_cluster_held_dropped_total",
            "Outputs needing no write dropped while too many waited behind slow Redis writes.",
            &c.held_dropped,
        ),
        (
            "switchboard_cluster_redis_errors_total",
            "Failed or broken Redis connections.",
            &c.redis_errors,
        ),
        (
            "switchboard_cluster_pipelines_total",
            "Redis pipelines run by the bridge.",
            &c.pipelines,
        ),
    ];
    for (name, help, value) in counters {
        let _ = write!(
            text,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
            value.load(Ordering::Relaxed)
        );
    }
    let _ = write!(
        text,
        "# HELP switchboard_cluster_pipeline_seconds_sum Time spent in Redis pipelines.\n# TYPE switchboard_cluster_pipeline_seconds_sum counter\nswitchboard_cluster_pipeline_seconds_sum {}\n",
        c.pipeline_us.load(Ordering::Relaxed) as f64 / 1e6
    );
    text
}
