//! What every Hearth fuzz target checks, in one place: the libFuzzer targets in
//! `fuzz/fuzz_targets/` call these, and `crates/hearth/tests/fuzz_corpus.rs` (stable
//! Rust, part of the normal test suite) includes this file to replay the committed
//! corpus and the crash regressions through the very same checks.
//!
//! A check panics when an invariant breaks; libFuzzer reports a panic as a crash.
//! Library-level errors (a malformed frame, link or record) are not failures: they are
//! the expected answer to junk. What must never happen is a panic, a hang, a wrong
//! answer, or an answer that is not a well-formed protocol frame.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hearth::discovery::txt::{encode_txt_record, parse_txt_record, split_txt_rdata};
use hearth::discovery::RoomTxt;
use hearth::protocol::{
    self, decode_client, decode_host, ClientFrame, DecodeError, ErrorCode, HistoryRequest,
    HostFrame, PROTOCOL_VERSION,
};
use hearth::{Host, HostConfig, Invite, Limits, Store, Transport};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

// ---------------------------------------------------------------------------------
// (a) decode_client

/// `decode_client` never panics; a decoded frame survives encode → decode unchanged;
/// an error names the request exactly when the envelope could be read. The host-side
/// decoder of the client (`decode_host`) gets the same bytes and the same round trip.
pub fn check_decode(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        // The WebSocket layer refuses invalid UTF-8 (close 1007) before decoding.
        return;
    };
    match decode_client(text) {
        Ok(frame) => {
            let again = decode_client(&protocol::encode(&frame))
                .unwrap_or_else(|e| panic!("re-encoded {frame:?} does not decode: {e}"));
            assert_eq!(again, frame, "client frame round trip");
            assert!(!frame.kind().is_empty());
        }
        Err(e) => {
            match &e {
                DecodeError::BadJson(_) => assert_eq!(e.request(), None),
                DecodeError::UnknownType(t) => {
                    assert!(t.chars().count() <= 64, "the echoed type is truncated");
                    assert_eq!(e.request().as_deref(), Some(t.as_str()));
                }
                DecodeError::InvalidPayload { kind, .. } => {
                    assert_eq!(e.request().as_deref(), Some(kind.as_str()))
                }
            }
            assert_ne!(e.code(), ErrorCode::Unknown);
            // The error frame the host would send encodes and decodes.
            let mut f = protocol::ErrorFrame::new(e.code(), e.to_string());
            f.request = e.request();
            let wire = protocol::encode(&HostFrame::Error(f.clone()));
            assert_eq!(decode_host(&wire).ok(), Some(HostFrame::Error(f)));
        }
    }
    if let Ok(frame) = decode_host(text) {
        let again = decode_host(&protocol::encode(&frame))
            .unwrap_or_else(|e| panic!("re-encoded {frame:?} does not decode: {e}"));
        assert_eq!(again, frame, "host frame round trip");
    }
}

// ---------------------------------------------------------------------------------
// (c) invite links

/// `Invite::parse` never panics; whatever it accepts prints (`Display`) as a link that
/// parses back to the same invite, with a port in 1..=65535 and, when present, a valid
/// certificate fingerprint (64 lowercase hex digits).
pub fn check_invite(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(invite) = Invite::parse(text) else {
        return;
    };
    assert!(!invite.host.is_empty(), "{text:?}: empty host accepted");
    assert_ne!(invite.port, 0, "{text:?}: port 0 accepted");
    if let Some(fp) = &invite.fingerprint {
        assert!(
            fp.len() == 64
                && fp
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{text:?}: malformed fingerprint {fp:?} accepted"
        );
    }
    let printed = invite.to_string();
    let back = Invite::parse(&printed)
        .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which does not parse: {e}"));
    assert_eq!(back, invite, "{text:?} printed as {printed:?}");
    assert_eq!(back.to_string(), printed);
    let _ = (invite.authority(), invite.ws_url());
}

// ---------------------------------------------------------------------------------
// (d) TXT records

/// `parse_txt_record` never panics; an accepted record holds only valid values, and
/// encoding it gives RDATA that parses back to the same record (and encodes the same).
pub fn check_txt(data: &[u8]) {
    let pairs = split_txt_rdata(data);
    let parsed = parse_txt_record(data);
    match (&pairs, &parsed) {
        (Err(a), Err(b)) => assert_eq!(a, b),
        (Ok(p), _) => assert_eq!(RoomTxt::from_pairs(p.iter().copied()), parsed),
        (Err(e), Ok(t)) => panic!("split failed ({e}) but the parse gave {t:?}"),
    }
    let Ok(txt) = parsed else {
        return;
    };
    assert_eq!(
        protocol::normalize_name(&txt.room_name).as_deref(),
        Some(txt.room_name.as_str())
    );
    if let Some(h) = &txt.host_name {
        assert_eq!(protocol::normalize_name(h).as_deref(), Some(h.as_str()));
    }
    if let Some(fp) = &txt.fingerprint {
        assert!(fp.len() == 64 && fp.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(fp.to_ascii_lowercase(), *fp);
    }
    let rdata = encode_txt_record(&txt);
    let mut rest = rdata.as_slice();
    while let Some((&len, tail)) = rest.split_first() {
        assert!(
            usize::from(len) <= tail.len(),
            "encoder wrote a truncated string"
        );
        rest = &tail[usize::from(len)..];
    }
    let back = parse_txt_record(&rdata)
        .unwrap_or_else(|e| panic!("{txt:?} encoded as {rdata:?}, which does not parse: {e}"));
    assert_eq!(back, txt, "TXT round trip");
    assert_eq!(encode_txt_record(&back), rdata);
}

// ---------------------------------------------------------------------------------
// (b) the handshake and join state machine of a real host

/// Room ids in corpus files. Captured traffic names the rooms of the capture's host;
/// the seeds replace them with these, and the harness maps them to its own rooms.
pub const CANON_OPEN_ROOM: &str = "00000000-0000-4000-8000-00000000000a";
pub const CANON_LOCKED_ROOM: &str = "00000000-0000-4000-8000-00000000000b";
/// The passcode of the harness's locked room (the captures use it too).
pub const LOCKED_PASSCODE: &str = "hunter2";
/// At most this many frames of an input are sent.
pub const MAX_FRAMES: usize = 128;

/// One session must finish well within this, or the host hangs.
const SESSION_LIMIT: Duration = Duration::from_secs(20);

/// A host served over in-memory streams: one per process, shared by every input.
pub struct Harness {
    rt: tokio::runtime::Runtime,
    host: Host,
    open_room: Uuid,
    locked_room: Uuid,
    peer: SocketAddr,
    _dir: tempfile::TempDir,
}

/// The process-wide harness (created on first use).
pub fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(Harness::new)
}

/// Limits that let every frame through to the state machine (rate limits have their
/// own tests): the frame and send buckets are out of reach, joins keep their real
/// limit, and passcode throttling is short so that both the throttled and the
/// verifying paths stay reachable from one peer address.
pub fn harness_limits() -> Limits {
    Limits {
        frames_per_sec: 1_000_000,
        messages_per_sec: 1_000_000,
        message_burst: 1_000_000,
        passcode_backoff_base: Duration::from_millis(5),
        passcode_backoff_max: Duration::from_millis(40),
        ..Limits::default()
    }
}

impl Harness {
    fn new() -> Harness {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        // A RAM disk where there is one: every commit is an fsync.
        let dir = match std::path::Path::new("/dev/shm") {
            shm if shm.is_dir() => tempfile::tempdir_in(shm),
            _ => tempfile::tempdir(),
        }
        .expect("temporary directory");
        let store = Arc::new(Store::open(dir.path()).expect("store"));
        // The locked room's passcode hash uses the cheapest Argon2id parameters: the same
        // verification code runs (it reads the parameters from the PHC string), in
        // microseconds instead of ~40 ms, so inputs that join it stay fast. `open_room`
        // below keeps this hash because the passcode matches.
        store
            .open_hosted_room("Locked", Some(&cheap_hash(LOCKED_PASSCODE)))
            .expect("room");
        let _guard = rt.enter();
        let host = Host::start(
            store,
            HostConfig {
                host_name: "Fuzz".into(),
                limits: harness_limits(),
                transport: Transport::Plaintext,
            },
        )
        .expect("host");
        let open_room = host.open_room("Open", None).expect("room").room_id;
        let locked_room = host
            .open_room("Locked", Some(LOCKED_PASSCODE))
            .expect("room")
            .room_id;
        Harness {
            rt,
            host,
            open_room,
            locked_room,
            peer: "192.0.2.7:40000".parse().expect("address"),
            _dir: dir,
        }
    }

    /// Runs one input: its lines (split at `\n`) are the client's text frames, in
    /// order; a line that is not UTF-8 goes out as a (malformed) text frame anyway.
    pub fn run(&self, input: &[u8]) {
        let frames: Vec<Vec<u8>> = input
            .split(|&b| b == b'\n')
            .take(MAX_FRAMES)
            .map(|line| self.localize(line))
            .collect();
        self.rt.block_on(async {
            tokio::time::timeout(SESSION_LIMIT, self.session(&frames))
                .await
                .expect("the session hung");
            self.released().await;
            tokio::time::timeout(SESSION_LIMIT, self.still_serving())
                .await
                .expect("the health check hung");
            self.released().await;
        });
    }

    fn localize(&self, line: &[u8]) -> Vec<u8> {
        let mut out = line.to_vec();
        for (canon, real) in [
            (CANON_OPEN_ROOM, self.open_room),
            (CANON_LOCKED_ROOM, self.locked_room),
        ] {
            out = replace_all(&out, canon.as_bytes(), real.to_string().as_bytes());
        }
        out
    }

    async fn connect(&self) -> WsClient {
        let (client, server) = tokio::io::duplex(64 * 1024);
        self.host.serve_io(server, self.peer);
        let (ws, _) = tokio_tungstenite::client_async("ws://fuzz.invalid/", client)
            .await
            .expect("the host completes the WebSocket upgrade");
        ws
    }

    async fn session(&self, frames: &[Vec<u8>]) {
        let ws = self.connect().await;
        let (mut sink, mut stream) = ws.split();
        let mut oracle = Oracle::new([self.open_room, self.locked_room]);
        // The receiver reports each answer to an end marker; it closes this channel
        // when the connection ends.
        let (marker_tx, mut marker_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let send = async {
            let mut sent = Vec::new();
            for f in frames {
                let msg = match std::str::from_utf8(f) {
                    Ok(t) => Message::Text(t.into()),
                    Err(_) => {
                        Message::Frame(Frame::message(f.clone(), OpCode::Data(Data::Text), true))
                    }
                };
                if sink.send(msg).await.is_err() {
                    break; // the host closed the connection: fine, it said why
                }
                sent.push(f.clone());
            }
            // Once the host reads a close frame it writes nothing more, so answers still
            // queued would be lost to the checks. First an end marker (answered in order
            // after every frame before it), then a flush (so the acks of every send are
            // queued), then a second marker: once it is answered, everything has been.
            for round in 0..2 {
                if round == 1 {
                    self.host.flush().await;
                }
                if sink.send(Message::Text(END_MARKER.into())).await.is_err()
                    || marker_rx.recv().await.is_none()
                {
                    break;
                }
            }
            let _ = sink.send(Message::Close(None)).await;
            sent
        };
        let receive = async {
            let mut answers = Vec::new();
            while let Some(Ok(m)) = stream.next().await {
                if is_end_marker_answer(&m) {
                    let _ = marker_tx.send(());
                }
                answers.push(m);
            }
            drop(marker_tx);
            answers
        };
        let (sent, answers) = tokio::join!(send, receive);
        // HEARTH_FUZZ_TRACE=1 prints the exchange (for triaging a crash).
        let trace = std::env::var_os("HEARTH_FUZZ_TRACE").is_some();
        for f in &sent {
            if trace {
                eprintln!("C→H {}", String::from_utf8_lossy(f));
            }
            oracle.sent(f);
        }
        for m in answers {
            if trace {
                eprintln!("H→C {m}");
            }
            oracle.received(m);
        }
    }

    /// Every connection slot is given back once the client is gone.
    async fn released(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.host.open_connections() != 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} connection slots still held 5 s after the client left",
                self.host.open_connections()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// A fresh client still gets a `welcome` listing both rooms.
    async fn still_serving(&self) {
        let mut ws = self.connect().await;
        let hello = format!(
            r#"{{"type":"hello","payload":{{"protocol":{PROTOCOL_VERSION},"user_id":"{}","name":"Health"}}}}"#,
            Uuid::new_v4()
        );
        ws.send(Message::Text(hello.into()))
            .await
            .expect("send hello");
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => match decode_host(&t) {
                    Ok(HostFrame::Welcome(w)) => {
                        let ids: HashSet<Uuid> = w.rooms.iter().map(|r| r.room_id).collect();
                        assert_eq!(ids, HashSet::from([self.open_room, self.locked_room]));
                        break;
                    }
                    other => panic!("health check: expected welcome, got {other:?}"),
                },
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                other => panic!("health check: expected welcome, got {other:?}"),
            }
        }
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    }
}

fn cheap_hash(passcode: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(8, 1, 1, None).expect("argon2 parameters");
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"hearth-fuzz-salt").expect("salt");
    argon
        .hash_password(passcode.as_bytes(), &salt)
        .expect("argon2 hash")
        .to_string()
}

/// A frame of an unknown type: the host answers it with an `unknown_type` error naming
/// it, in order after everything sent before it.
const END_MARKER: &str = r#"{"type":"hearth_fuzz_end","payload":{}}"#;

fn is_end_marker_answer(m: &Message) -> bool {
    let Message::Text(t) = m else { return false };
    matches!(
        decode_host(t),
        Ok(HostFrame::Error(e)) if e.code == ErrorCode::UnknownType
            && e.request.as_deref() == Some("hearth_fuzz_end")
    )
}

type WsClient = tokio_tungstenite::WebSocketStream<tokio::io::DuplexStream>;

fn replace_all(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// Checks what the host answered against what the client sent (docs/protocol.md).
/// Feed it every frame sent ([`Oracle::sent`]), then every answer, in order
/// ([`Oracle::received`]); it panics at the first answer that breaks the protocol.
pub struct Oracle {
    rooms: HashSet<Uuid>,
    /// Rooms this connection is a member of, per the host's own `joined` / `left`.
    joined: HashSet<Uuid>,
    /// The last seq seen per room (`joined.head_seq`, then each `message`).
    last_seq: HashMap<Uuid, u64>,
    /// `joined.head_seq` of the latest join, per room.
    join_head: HashMap<Uuid, u64>,
    /// `history` frames in the order sent: the decoded request, or `None` for one the
    /// host will refuse to decode (its answer is an error naming `history`).
    history: VecDeque<Option<HistoryRequest>>,
    /// `join` frames in the order sent, the same way: each gets `joined` or an error.
    joins: VecDeque<Option<protocol::Join>>,
    client_msg_ids: HashSet<String>,
    hello_sent: bool,
    welcomes: usize,
    max_page: u32,
}

/// Close codes the host documents (docs/protocol.md §7).
const CLOSE_CODES: &[u16] = &[
    1000, 1001, 1002, 1003, 1007, 1009, 4001, 4002, 4003, 4004, 4005, 4008,
];

impl Oracle {
    pub fn new(rooms: [Uuid; 2]) -> Oracle {
        Oracle {
            rooms: rooms.into_iter().collect(),
            joined: HashSet::new(),
            last_seq: HashMap::new(),
            join_head: HashMap::new(),
            history: VecDeque::new(),
            joins: VecDeque::new(),
            client_msg_ids: HashSet::new(),
            hello_sent: false,
            welcomes: 0,
            max_page: harness_limits().max_history_page,
        }
    }

    pub fn sent(&mut self, frame: &[u8]) {
        let Ok(text) = std::str::from_utf8(frame) else {
            return;
        };
        match decode_client(text) {
            Ok(ClientFrame::History(h)) => self.history.push_back(Some(h)),
            Ok(ClientFrame::Join(j)) => self.joins.push_back(Some(j)),
            Ok(ClientFrame::Send(s)) => {
                self.client_msg_ids.insert(s.client_msg_id);
            }
            Ok(ClientFrame::Hello(_)) => self.hello_sent = true,
            Ok(_) => {}
            Err(e) if e.request().as_deref() == Some("history") => self.history.push_back(None),
            Err(e) if e.request().as_deref() == Some("join") => self.joins.push_back(None),
            Err(_) => {}
        }
    }

    fn member_of(&self, room: Uuid, what: &str) {
        assert!(
            self.joined.contains(&room),
            "{what} for room {room}, which this connection has not joined"
        );
    }

    fn next_seq(&mut self, room: Uuid, seq: u64, what: &str) {
        let last = self.last_seq.entry(room).or_insert(0);
        assert!(seq > *last, "{what}: seq {seq} after {last} in room {room}");
        *last = seq;
    }

    pub fn received(&mut self, m: Message) {
        let text = match m {
            Message::Text(t) => t,
            Message::Close(c) => {
                if let Some(c) = c {
                    let code = u16::from(c.code);
                    assert!(
                        CLOSE_CODES.contains(&code),
                        "undocumented close code {code}"
                    );
                }
                return;
            }
            Message::Binary(b) => panic!("the host sent a binary message: {b:?}"),
            _ => return,
        };
        let frame = decode_host(&text)
            .unwrap_or_else(|e| panic!("the host sent a frame that does not decode ({e}): {text}"));
        match frame {
            HostFrame::Welcome(w) => {
                assert!(self.hello_sent, "welcome without hello");
                self.welcomes += 1;
                assert_eq!(self.welcomes, 1, "a second welcome");
                assert_eq!(w.protocol, PROTOCOL_VERSION);
                let ids: HashSet<Uuid> = w.rooms.iter().map(|r| r.room_id).collect();
                assert_eq!(ids, self.rooms);
            }
            HostFrame::Joined(j) => {
                assert!(self.welcomes > 0, "joined before welcome");
                let room = j.room.room_id;
                assert!(self.rooms.contains(&room), "joined an unknown room {room}");
                let req = self
                    .joins
                    .pop_front()
                    .expect("a joined nobody asked for")
                    .expect("a joined for a join frame that does not decode");
                assert_eq!(req.room_id, room, "joined answers another room");
                assert_eq!(j.head_seq, j.room.head_seq);
                // The log is gap-free from 1, so the page is exactly determined.
                let (head, page) = (j.head_seq, u64::from(self.max_page));
                let want = match req.since_seq {
                    Some(s) if s <= head => (s + 1)..=head.min(s.saturating_add(page)),
                    _ => head.saturating_sub(page - 1).max(1)..=head,
                };
                assert_eq!(
                    seqs(&j.messages),
                    want.clone().collect::<Vec<_>>(),
                    "joined with since_seq {:?}, head {head}",
                    req.since_seq
                );
                assert_eq!(j.has_more, *want.end() < head, "joined.has_more");
                check_page(room, &j.messages, self.max_page);
                assert_eq!(j.members.len() as u32, j.room.online, "members vs online");
                assert_eq!(j.resume_token.is_some(), j.room.has_passcode);
                self.joined.insert(room);
                self.last_seq.insert(room, j.head_seq);
                self.join_head.insert(room, j.head_seq);
            }
            HostFrame::Left(r) => {
                assert!(self.joined.remove(&r.room_id), "left a room never joined");
            }
            HostFrame::Ack(a) => {
                assert!(
                    self.client_msg_ids.contains(&a.client_msg_id),
                    "ack for {:?}, never sent",
                    a.client_msg_id
                );
                assert!(a.seq >= 1);
            }
            HostFrame::Message(m) => {
                self.member_of(m.room_id, "message");
                self.next_seq(m.room_id, m.seq, "message");
            }
            HostFrame::Presence(p) => self.member_of(p.room_id, "presence"),
            HostFrame::Typing(t) => self.member_of(t.room_id, "typing"),
            HostFrame::HistoryPage(page) => {
                let req = self
                    .history
                    .pop_front()
                    .expect("a history_page nobody asked for")
                    .expect("a history_page for a history frame that does not decode");
                assert_eq!(page.room_id, req.room_id);
                let limit = req.limit.unwrap_or(self.max_page).clamp(1, self.max_page);
                check_page(req.room_id, &page.messages, limit);
                // The host answers from the head it read when it handled the request:
                // at least the head this connection joined at, at most the last seq
                // delivered before this page (a message is delivered under the room
                // lock as the head moves). The log is gap-free from 1, so for that head
                // the page is exactly determined.
                let hi = self.last_seq.get(&req.room_id).copied().unwrap_or(0);
                let lo = self
                    .join_head
                    .get(&req.room_id)
                    .copied()
                    .unwrap_or(0)
                    .min(hi);
                let got = (seqs(&page.messages), page.has_more);
                assert!(
                    (lo..=hi).any(|head| expected_history(&req, head, limit) == got),
                    "history before_seq {:?} after_seq {:?} limit {:?} answered {got:?}; \
                     for heads {lo}..={hi} expected one of {:?}",
                    req.before_seq,
                    req.after_seq,
                    req.limit,
                    (lo..=hi.min(lo + 3))
                        .map(|h| expected_history(&req, h, limit))
                        .collect::<Vec<_>>()
                );
                if let Some(b) = req.before_seq {
                    assert!(
                        page.messages.iter().all(|m| m.seq < b),
                        "history before_seq {b} answered with seqs {:?}",
                        seqs(&page.messages)
                    );
                }
                if let Some(a) = req.after_seq {
                    assert!(
                        page.messages.iter().all(|m| m.seq > a),
                        "history after_seq {a} answered with seqs {:?}",
                        seqs(&page.messages)
                    );
                }
            }
            HostFrame::Error(e) => {
                assert_ne!(e.code, ErrorCode::Unknown, "undocumented error code");
                if e.request.as_deref() == Some("history") {
                    assert!(
                        self.history.pop_front().is_some(),
                        "an error for a history frame never sent"
                    );
                }
                if e.request.as_deref() == Some("join") {
                    assert!(
                        self.joins.pop_front().is_some(),
                        "an error for a join frame never sent"
                    );
                }
            }
        }
    }
}

/// The seqs and `has_more` of the page `req` gets from a room whose head is `head`
/// (docs/protocol.md §10.3), `limit` already clamped.
fn expected_history(req: &HistoryRequest, head: u64, limit: u32) -> (Vec<u64>, bool) {
    let limit = u64::from(limit);
    match (req.before_seq, req.after_seq) {
        (_, Some(a)) => {
            let want: Vec<u64> =
                (a.saturating_add(1)..=head.min(a.saturating_add(limit))).collect();
            let more = want.last().is_some_and(|l| *l < head);
            (want, more)
        }
        (b, None) => {
            let end = b.map_or(head, |b| head.min(b.saturating_sub(1)));
            let want: Vec<u64> = (end.saturating_sub(limit - 1).max(1)..=end).collect();
            let more = want.first().is_some_and(|f| *f > 1);
            (want, more)
        }
    }
}

fn seqs(m: &[protocol::ChatMessage]) -> Vec<u64> {
    m.iter().map(|m| m.seq).collect()
}

/// A page is ascending, gap-free where the log is, from one room, and within its limit.
fn check_page(room: Uuid, messages: &[protocol::ChatMessage], limit: u32) {
    assert!(messages.len() <= limit as usize, "page over its limit");
    assert!(
        messages.iter().all(|m| m.room_id == room),
        "page mixes rooms"
    );
    assert!(
        messages.windows(2).all(|w| w[0].seq + 1 == w[1].seq),
        "page not ascending and contiguous: {:?}",
        seqs(messages)
    );
}
