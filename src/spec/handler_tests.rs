use super::*;

fn lc(text: &str) -> Result<Lifecycle<Port>, String> {
    parse_lifecycle(&json::parse(text)?, "").map_err(|e| e.to_string())
}

#[test]
fn kubernetes_docs_example() {
    let l = lc(r#"{"postStart":{"exec":{"command":["/bin/sh","-c","echo Hello > /tmp/message"]}},
                  "preStop":{"exec":{"command":["/bin/sh","-c","nginx -s quit; while killall -0 nginx; do sleep 1; done"]}}}"#)
    .unwrap();
    assert_eq!(l.post_start.unwrap().kind(), "exec");
    assert_eq!(l.pre_stop.unwrap().kind(), "exec");
}

#[test]
fn http_defaults_and_headers() {
    let l = lc(r#"{"preStop":{"httpGet":{"port":8080,"httpHeaders":[{"name":"X-A","value":"b"}]}},"stopSignal":"SIGQUIT"}"#).unwrap();
    let Some(Handler::Action(Action::HttpGet(h))) = l.pre_stop else {
        panic!()
    };
    assert_eq!(
        (h.host.as_str(), h.port, h.path.as_str(), h.scheme),
        ("127.0.0.1", Port::Number(8080), "/", Scheme::Http)
    );
    assert_eq!(h.headers, vec![("X-A".to_string(), "b".to_string())]);
    assert_eq!(l.stop_signal, Some(libc::SIGQUIT));
}

#[test]
fn errors_carry_paths() {
    assert_eq!(
        lc(r#"{"preStop":{"httpGet":{"port":70000}}}"#).unwrap_err(),
        "preStop.httpGet.port: 70000 is out of range 1-65535"
    );
    assert_eq!(
        lc(r#"{"preStop":{}}"#).unwrap_err(),
        "preStop: must specify a handler type"
    );
    assert_eq!(
        lc(r#"{"postStart":{"exec":{"command":["a"]},"sleep":{"seconds":1}}}"#).unwrap_err(),
        "postStart: may not specify more than 1 handler type"
    );
    assert!(lc(r#"{"preStop":{"httpGet":{"port":"http"}}}"#)
        .unwrap_err()
        .contains("named port"));
    assert!(lc(r#"{"preStop":{"exec":{"comand":["a"]}}}"#)
        .unwrap_err()
        .starts_with("preStop.exec.comand: unknown field"));
    assert!(lc(
        r#"{"preStop":{"httpGet":{"port":1,"httpHeaders":[{"name":"X","value":"a\r\nB: c"}]}}}"#
    )
    .unwrap_err()
    .contains("httpHeaders[0].value"));
}
