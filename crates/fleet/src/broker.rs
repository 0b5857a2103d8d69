//! Connecting to the broker: `mqtt://` and `mqtts://` URLs, credentials,
//! TLS, and a connection that reconnects by itself.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rumqttc::{Client, Event, LastWill, MqttOptions, Packet, QoS, Transport};

/// Where the broker is and how to log in.
#[derive(Clone, Debug, Default)]
pub struct Broker {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub username: Option<String>,
    pub password: Option<String>,
    /// PEM file of the CA that signed the broker's certificate (`mqtts://`;
    /// the system's roots when `None`).
    pub ca: Option<std::path::PathBuf>,
    /// PEM client certificate and key, for brokers that ask for one.
    pub client_cert: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl Broker {
    /// `mqtt://[USER[:PASS]@]HOST[:PORT]` (port 1883) or `mqtts://...`
    /// (port 8883).
    pub fn parse(url: &str) -> Result<Broker> {
        let parsed = url::Url::parse(url).with_context(|| {
            format!("`{url}` is not a broker URL (mqtt://HOST[:PORT] or mqtts://HOST[:PORT])")
        })?;
        let tls = match parsed.scheme() {
            "mqtt" | "tcp" => false,
            "mqtts" | "ssl" => true,
            other => bail!("`{url}`: the scheme must be mqtt:// or mqtts://, not {other}://"),
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .with_context(|| format!("`{url}` names no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        Ok(Broker {
            host,
            port: parsed.port().unwrap_or(if tls { 8883 } else { 1883 }),
            tls,
            username: (!parsed.username().is_empty()).then(|| decode(parsed.username())),
            password: parsed.password().map(decode),
            ca: None,
            client_cert: None,
        })
    }

    /// The URL without its password.
    pub fn display(&self) -> String {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        let user = self
            .username
            .as_ref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        format!("{scheme}://{user}{}:{}", self.host, self.port)
    }

    fn options(&self, client_id: &str) -> Result<MqttOptions> {
        let mut o = MqttOptions::new(client_id, &self.host, self.port);
        o.set_keep_alive(Duration::from_secs(10));
        // Packages travel as one message.
        o.set_max_packet_size(4 << 20, 4 << 20);
        if let Some(user) = &self.username {
            o.set_credentials(user, self.password.clone().unwrap_or_default());
        }
        if self.tls {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let read = |p: &std::path::Path| {
                std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))
            };
            let client_auth = match &self.client_cert {
                Some((cert, key)) => Some((read(cert)?, read(key)?)),
                None => None,
            };
            let transport = match &self.ca {
                Some(ca) => Transport::tls(read(ca)?, client_auth, None),
                None if client_auth.is_none() => Transport::tls_with_default_config(),
                None => bail!("a client certificate needs --ca (the broker's CA certificate)"),
            };
            o.set_transport(transport);
        }
        Ok(o)
    }
}

/// What arrives on a connection.
#[derive(Clone, Debug)]
pub enum Incoming {
    /// Connected (again): subscribe and publish what must be there.
    Connected,
    Message {
        topic: String,
        payload: Vec<u8>,
    },
    /// The connection dropped; it is retried every second.
    Down(String),
}

/// A connection to the broker, reconnecting on its own.
pub struct Connection {
    pub client: Client,
    events: Receiver<Incoming>,
}

/// How a client connects.
pub struct Session<'a> {
    pub client_id: &'a str,
    /// `false`: a persistent session (the broker queues QoS 1 messages for
    /// it while it is away).
    pub clean: bool,
    pub will: Option<(String, Vec<u8>)>,
}

impl Connection {
    pub fn open(broker: &Broker, session: Session<'_>) -> Result<Connection> {
        let mut options = broker.options(session.client_id)?;
        options.set_clean_session(session.clean);
        if let Some((topic, payload)) = session.will {
            options.set_last_will(LastWill::new(topic, payload, QoS::AtLeastOnce, true));
        }
        let (client, mut connection) = Client::new(options, 256);
        let (tx, events) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("mqtt {}", session.client_id))
            .spawn(move || {
                for event in connection.iter() {
                    let incoming = match event {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => Incoming::Connected,
                        Ok(Event::Incoming(Packet::Publish(p))) => Incoming::Message {
                            topic: p.topic,
                            payload: p.payload.to_vec(),
                        },
                        Ok(_) => continue,
                        Err(e) => {
                            let down = Incoming::Down(e.to_string());
                            if tx.send(down).is_err() {
                                return;
                            }
                            std::thread::sleep(Duration::from_secs(1));
                            continue;
                        }
                    };
                    if tx.send(incoming).is_err() {
                        return;
                    }
                }
            })
            .context("cannot start the MQTT thread")?;
        Ok(Connection { client, events })
    }

    /// The next event, or `None` after `wait` without one.
    pub fn next(&self, wait: Duration) -> Option<Incoming> {
        match self.events.recv_timeout(wait) {
            Ok(event) => Some(event),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => Some(Incoming::Down("closed".into())),
        }
    }

    /// Waits until connected, or fails after `wait` with the broker's error.
    pub fn connected(&self, broker: &Broker, wait: Duration) -> Result<()> {
        let deadline = std::time::Instant::now() + wait;
        let mut last = String::from("no answer");
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                bail!(
                    "cannot reach the broker at {} ({last}); is it running, and are the URL and credentials right?",
                    broker.display()
                );
            }
            match self.next(left) {
                Some(Incoming::Connected) => return Ok(()),
                Some(Incoming::Down(e)) => last = e,
                _ => {}
            }
        }
    }

    /// Publishes retained, QoS 1.
    pub fn put(&self, topic: String, payload: Vec<u8>) -> Result<()> {
        self.client
            .publish(topic, QoS::AtLeastOnce, true, payload)
            .context("the MQTT client stopped")
    }

    pub fn subscribe(&self, topic: String) -> Result<()> {
        self.client
            .subscribe(topic, QoS::AtLeastOnce)
            .context("the MQTT client stopped")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_host_port_tls_and_credentials() {
        let b = Broker::parse("mqtt://127.0.0.1:1999").unwrap();
        assert_eq!((b.host.as_str(), b.port, b.tls), ("127.0.0.1", 1999, false));
        let b = Broker::parse("mqtts://ops:s%40cret@broker.example").unwrap();
        assert_eq!((b.port, b.tls), (8883, true));
        assert_eq!(b.username.as_deref(), Some("ops"));
        assert_eq!(b.password.as_deref(), Some("s@cret"));
        assert_eq!(b.display(), "mqtts://ops@broker.example:8883");
        assert_eq!(Broker::parse("mqtt://h").unwrap().port, 1883);
        let e = Broker::parse("http://h").unwrap_err().to_string();
        assert!(e.contains("mqtt://"), "{e}");
        assert!(Broker::parse("127.0.0.1:1883").is_err());
    }
}
