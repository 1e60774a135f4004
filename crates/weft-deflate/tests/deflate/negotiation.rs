//! Runs `testdata/deflate/negotiation.toml`: what each role offers, accepts, declines and
//! rejects, with the exact error; then checks that every accepted pair also works on the wire.

use serde::Deserialize;
use weft_codec::{Event, Message, Role};
use weft_deflate::{DeflateConfig, DeflateParams};
use weft_handshake::{Extension, ExtensionNegotiator, format_extensions, parse_extension_list};

use crate::support::{connection, negotiate, receive, take_wire};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    client_offers: Vec<Row>,
    server_accept: Vec<Row>,
    server_decline: Vec<Row>,
    server_list: Vec<Row>,
    client_accept: Vec<Row>,
    client_reject: Vec<Row>,
    answer_reject: Vec<Row>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    name: String,
    #[serde(default)]
    config: ConfigSpec,
    offer: Option<String>,
    offers: Option<String>,
    response: Option<String>,
    agreed: Option<(bool, bool, u8, u8)>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigSpec {
    enabled: Option<bool>,
    server_no_context_takeover: Option<bool>,
    client_no_context_takeover: Option<bool>,
    server_max_window_bits: Option<u8>,
    client_max_window_bits: Option<u8>,
    fallback_offer: Option<bool>,
}

impl ConfigSpec {
    fn build(&self) -> DeflateConfig {
        let mut config = DeflateConfig::default();
        if let Some(on) = self.enabled {
            config = config.enabled(on);
        }
        if let Some(on) = self.server_no_context_takeover {
            config = config.server_no_context_takeover(on);
        }
        if let Some(on) = self.client_no_context_takeover {
            config = config.client_no_context_takeover(on);
        }
        if let Some(bits) = self.server_max_window_bits {
            config = config.server_max_window_bits(bits);
        }
        if let Some(bits) = self.client_max_window_bits {
            config = config.client_max_window_bits(bits);
        }
        if let Some(on) = self.fallback_offer {
            config = config.fallback_offer(on);
        }
        config
    }
}

impl Row {
    fn field<'a>(&'a self, value: &'a Option<String>, what: &str) -> &'a str {
        value
            .as_deref()
            .unwrap_or_else(|| panic!("{}: needs `{what}`", self.name))
    }

    fn list(&self, value: &Option<String>, what: &str) -> Vec<Extension> {
        parse_extension_list(self.field(value, what).as_bytes())
            .unwrap_or_else(|err| panic!("{}: `{what}` does not parse: {err}", self.name))
    }

    fn one(&self, value: &Option<String>, what: &str) -> Extension {
        let mut list = self.list(value, what);
        assert_eq!(
            list.len(),
            1,
            "{}: `{what}` must hold one extension",
            self.name
        );
        list.remove(0)
    }
}

fn load() -> File {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/deflate/negotiation.toml"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{path}: {err}"));
    toml::from_str(&text).unwrap_or_else(|err| panic!("{path}: {err}"))
}

fn agreed_tuple(params: &DeflateParams) -> (bool, bool, u8, u8) {
    (
        params.server_no_context_takeover(),
        params.client_no_context_takeover(),
        params.server_max_window_bits(),
        params.client_max_window_bits(),
    )
}

#[test]
fn client_offers() {
    let file = load();
    assert!(!file.client_offers.is_empty());
    for row in &file.client_offers {
        let offers = format_extensions(&row.config.build().client_offers());
        assert_eq!(offers, row.field(&row.offers, "offers"), "{}", row.name);
    }
}

#[test]
fn server_accepts_one_offer() {
    let file = load();
    assert!(file.server_accept.len() >= 20);
    for row in &file.server_accept {
        let config = row.config.build();
        let offer = row.one(&row.offer, "offer");
        let answer = config
            .accept_offer(&offer)
            .unwrap_or_else(|err| panic!("{}: declined: {err}", row.name));
        assert_eq!(
            answer.to_string(),
            row.field(&row.response, "response"),
            "{}",
            row.name
        );
        // The negotiator agrees to the same, and the server builds its extension from it.
        let agreed = config.negotiate(std::slice::from_ref(&offer));
        assert_eq!(agreed, std::slice::from_ref(&answer), "{}", row.name);
        let server = config.server_extension(&agreed).expect("own answer reads");
        assert!(server.is_some(), "{}", row.name);
        // A client that made this offer accepts the answer.
        DeflateParams::from_response_to(&offer, &answer)
            .unwrap_or_else(|err| panic!("{}: the offerer rejects the answer: {err}", row.name));
    }
}

#[test]
fn server_declines_one_offer_with_a_reason() {
    let file = load();
    assert!(file.server_decline.len() >= 15);
    for row in &file.server_decline {
        let config = row.config.build();
        let offer = row.one(&row.offer, "offer");
        match config.accept_offer(&offer) {
            Ok(answer) => panic!("{}: accepted as {answer}", row.name),
            Err(err) => assert_eq!(
                err.to_string(),
                row.field(&row.error, "error"),
                "{}",
                row.name
            ),
        }
        assert!(config.negotiate(&[offer]).is_empty(), "{}", row.name);
    }
}

#[test]
fn server_chooses_among_offers() {
    let file = load();
    assert!(!file.server_list.is_empty());
    for row in &file.server_list {
        let config = row.config.build();
        let offers = row.list(&row.offers, "offers");
        let agreed = config.negotiate(&offers);
        assert_eq!(
            format_extensions(&agreed),
            row.field(&row.response, "response"),
            "{}",
            row.name
        );
        assert!(agreed.len() <= 1, "{}", row.name);
    }
}

#[test]
fn client_accepts_responses() {
    let file = load();
    assert!(file.client_accept.len() >= 15);
    for row in &file.client_accept {
        let config = row.config.build();
        let response = row.list(&row.response, "response");
        let deflate = config
            .client_extension(&response)
            .unwrap_or_else(|err| panic!("{}: rejected: {err}", row.name))
            .unwrap_or_else(|| panic!("{}: no extension", row.name));
        let expected = row
            .agreed
            .unwrap_or_else(|| panic!("{}: needs `agreed`", row.name));
        assert_eq!(agreed_tuple(deflate.params()), expected, "{}", row.name);
        assert_eq!(deflate.role(), Role::Client);
    }
}

#[test]
fn client_rejects_bad_responses_naming_the_parameter() {
    let file = load();
    assert!(file.client_reject.len() >= 10);
    for row in &file.client_reject {
        let config = row.config.build();
        let response = row.list(&row.response, "response");
        match config.client_extension(&response) {
            Ok(deflate) => panic!(
                "{}: accepted as {:?}",
                row.name,
                deflate.map(|d| *d.params())
            ),
            Err(err) => assert_eq!(
                err.to_string(),
                row.field(&row.error, "error"),
                "{}",
                row.name
            ),
        }
    }
}

#[test]
fn responses_that_answer_no_given_offer() {
    let file = load();
    assert!(!file.answer_reject.is_empty());
    for row in &file.answer_reject {
        let offer = row.one(&row.offer, "offer");
        let response = row.one(&row.response, "response");
        match DeflateParams::from_response_to(&offer, &response) {
            Ok(params) => panic!("{}: accepted as {params:?}", row.name),
            Err(err) => assert_eq!(
                err.to_string(),
                row.field(&row.error, "error"),
                "{}",
                row.name
            ),
        }
    }
}

#[test]
fn a_declined_offer_leaves_both_ends_uncompressed() {
    let client = DeflateConfig::default();
    let server = DeflateConfig::default().enabled(false);
    assert!(negotiate(&client, &server).is_none());
    assert!(
        client
            .client_extension(&[])
            .expect("no answer is fine")
            .is_none()
    );
    assert!(
        server
            .server_extension(&[])
            .expect("nothing agreed")
            .is_none()
    );
}

#[test]
fn every_client_config_against_every_server_config_agrees_and_works() {
    // Client and server configurations drawn from the tables, crossed: negotiation through the
    // real offer and answer always succeeds (our server never answers what our client
    // rejects), and a message then crosses both ways.
    let file = load();
    let configs: Vec<DeflateConfig> = file
        .client_offers
        .iter()
        .chain(&file.server_accept)
        .chain(&file.client_accept)
        .map(|row| row.config.build().threshold(0))
        .collect();
    let text = "a message that both ends must read back, a message that both ends must read";
    for client in &configs {
        for server in &configs {
            let Some((header, client_ext, server_ext)) = negotiate(client, server) else {
                // Our client always offers client_max_window_bits, so only a disabled end
                // declines.
                assert!(
                    !client.get_enabled() || !server.get_enabled(),
                    "declined between {client:?} and {server:?}"
                );
                continue;
            };
            let mut client_conn = connection(Role::Client, client_ext);
            let mut server_conn = connection(Role::Server, server_ext);
            client_conn.send(Message::text(text)).expect("send");
            server_conn.send(Message::text(text)).expect("send");
            let to_server = take_wire(&mut client_conn);
            let to_client = take_wire(&mut server_conn);
            let expected = [Event::Message(Message::text(text))];
            let (events, err) = receive(&mut server_conn, &to_server, to_server.len());
            assert!(err.is_none(), "{header}: {err:?}");
            assert_eq!(events, expected, "{header}");
            let (events, err) = receive(&mut client_conn, &to_client, to_client.len());
            assert!(err.is_none(), "{header}: {err:?}");
            assert_eq!(events, expected, "{header}");
        }
    }
}
