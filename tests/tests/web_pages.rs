//! The web pages the engine serves itself (issue #16): the demo shop, the agent console
//! and the SDK, embedded in the binary, with a strict CSP and an ETag that turns a
//! reload into a 304.

use switchboard_tests::{http_exchange, Server};

fn get(server: &Server, path: &str, extra: &str) -> switchboard_tests::HttpResponse {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\n{extra}\r\n",
        server.addr()
    );
    http_exchange(server.addr(), request.as_bytes()).expect("an answer")
}

#[test]
fn the_demo_console_and_sdk_are_served_with_security_and_cache_headers() {
    let server = Server::start(&["--shards", "1"]);
    for (path, kind, needle) in [
        ("/demo/", "text/html", "data-testid"),
        ("/console/", "text/html", "<html"),
        ("/sdk/switchboard.js", "text/javascript", "client_msg_id"),
        ("/sdk/widget.js", "text/javascript", "sb-open"),
    ] {
        let page = get(&server, path, "");
        assert_eq!(page.status, 200, "{path}");
        assert!(
            page.header("content-type").unwrap().starts_with(kind),
            "{path}"
        );
        assert!(
            page.body_text().contains(needle) || path.ends_with('/'),
            "{path}"
        );
        let csp = page.header("content-security-policy").unwrap();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
        let etag = page.header("etag").unwrap().to_owned();
        let again = get(&server, path, &format!("If-None-Match: {etag}\r\n"));
        assert_eq!(again.status, 304, "{path}: a reload is a 304");
    }
    assert_eq!(
        get(&server, "/sdk/switchboard.js", "").header("access-control-allow-origin"),
        Some("*"),
        "a shop's own pages load the SDK"
    );
    let folder = get(&server, "/console", "");
    assert_eq!(
        (folder.status, folder.header("location")),
        (301, Some("/console/"))
    );
    assert_eq!(get(&server, "/", "").header("location"), Some("/demo/"));
    let missing = get(&server, "/demo/nothing.js", "");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"]["code"], "not_found");
}
