//! The whole WeChat inbound path (query, signatures, replay window, envelope,
//! decrypt, message) on arbitrary requests: never a panic, never an accepted event
//! without a valid signature.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use switchboard_channels::adapter::{Adapter, BuildContext, InboundRequest, Method};
use switchboard_channels::clock::SystemClock;
use switchboard_channels::{AdapterRegistry, HubConfig};

fn adapter() -> &'static Arc<dyn Adapter> {
    static ADAPTER: OnceLock<Arc<dyn Adapter>> = OnceLock::new();
    ADAPTER.get_or_init(|| {
        let config = HubConfig::parse(
            "listen = \"127.0.0.1:0\"\n[[account]]\nname = \"f\"\nkind = \"wechat\"\npath = \"/f\"\n[account.settings]\napp_id = \"wxfuzz\"\napp_secret = \"s\"\ntoken = \"tok\"\nencoding_aes_key = \"jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C\"\nmode = \"compatible\"\napi_base = \"http://127.0.0.1:9\"\n",
        )
        .expect("valid");
        let context = BuildContext {
            clock: Arc::new(SystemClock),
            http: ureq_free_agent(),
        };
        AdapterRegistry::with_builtin().build(&config.accounts[0], &context).expect("builds")
    })
}

fn ureq_free_agent() -> switchboard_channels::http_client::Agent {
    switchboard_channels::http_client::agent(std::time::Duration::from_millis(1), std::time::Duration::from_millis(1))
}

fuzz_target!(|data: &[u8]| {
    // First byte: method; up to the first 0 byte: the query; the rest: the body.
    let Some((&method, rest)) = data.split_first() else {
        return;
    };
    let split = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    let Ok(query) = std::str::from_utf8(&rest[..split]) else {
        return;
    };
    let body = rest.get(split + 1..).unwrap_or(&[]);
    let request = InboundRequest {
        method: if method % 2 == 0 { Method::Post } else { Method::Get },
        path: "/f",
        query,
        headers: &[],
        body,
    };
    let _ = adapter().inbound(&request, SystemTime::now());
});
