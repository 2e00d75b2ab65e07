//! Rooms that look like real use, written into an app's data directory before the app
//! starts: a real host on that directory (its own certificate and store), the app
//! user's own client (same store, so the same user id) and other members with stores of
//! their own, sending real messages over real sockets.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use hearth::client::ClientEvent;
use hearth::tls::HostCert;
use hearth::{Client, ClientConfig, Host, HostConfig, Invite, Limits, Store, Transport};
use uuid::Uuid;

/// One message: who writes it (`None`: the data directory's own user) and its text.
pub struct Line {
    pub author: Option<String>,
    pub text: String,
}

/// `n` messages from a cast with long and right-to-left names, in several scripts, with
/// emoji, multi-line messages and long words, about a third from the data dir's user.
pub fn busy_room(n: usize) -> Vec<Line> {
    let cast = [
        None,
        Some("Maximilian Alexander von Hohenstein-Rutherford"),
        Some("نور الهدى"),
        Some("Chloé 🌻"),
        None,
        Some("יעל כהן"),
    ];
    let texts = [
        "Morning! Is the design review still at three?",
        "Yes, room 2. Bring the mockups 📐",
        "השקפים מוכנים, אשלח אותם אחרי הצהריים",
        "سأرسل الملف بعد الاجتماع إن شاء الله",
        "Shipping list:\n- cables\n- the spare monitor\n- two 🍕",
        "https://intranet.example/wiki/Release-checklist-for-version-2.4-with-a-very-long-path-that-keeps-going",
        "👍👍👍",
        "Can someone check why the build on the second floor printer queue is stuck? It has been printing the same page since nine.",
        "ok",
        "Supercalifragilisticexpialidocious-antidisestablishmentarianism-pneumonoultramicroscopic",
    ];
    (0..n)
        .map(|i| Line {
            author: cast[i % cast.len()].map(str::to_string),
            text: format!("{} #{}", texts[(i * 7) % texts.len()], i + 1),
        })
        .collect()
}

/// Hosts `name` from `data_dir` (reopening it if it was hosted there before), has the
/// dir's own user join it and everyone in `lines` write their lines, then stops. Returns
/// the room id. The app started on `data_dir` afterwards finds the room joined and
/// hostable, with all its history.
pub async fn seed_room(
    data_dir: &Path,
    own_name: &str,
    name: &str,
    passcode: Option<&str>,
    lines: &[Line],
) -> Result<Uuid> {
    let store = Arc::new(Store::open(data_dir)?);
    let cert = HostCert::load_or_create(data_dir)?;
    let limits = Limits {
        messages_per_sec: 100_000,
        message_burst: 100_000,
        ..Limits::default()
    };
    let host = Host::start(
        Arc::clone(&store),
        HostConfig {
            host_name: own_name.into(),
            limits,
            transport: Transport::Tls(cert),
        },
    )?;
    let addr = host.bind("127.0.0.1:0".parse()?).await?;
    let room = host.open_room(name, passcode)?.room_id;
    let invite = Invite {
        host: "127.0.0.1".into(),
        port: addr.port(),
        room_id: Some(room),
        fingerprint: host.fingerprint().map(str::to_string),
    };
    let own = join(&invite, own_name, Arc::clone(&store), passcode).await?;
    // Each other author has a store (and so a user id) of its own.
    let mut others: HashMap<String, (Client, tempfile::TempDir)> = HashMap::new();
    for l in lines {
        if let Some(a) = &l.author {
            if !others.contains_key(a) {
                let dir = tempfile::tempdir()?;
                let s = Arc::new(Store::open(dir.path())?);
                others.insert(a.clone(), (join(&invite, a, s, passcode).await?, dir));
            }
        }
    }
    for l in lines {
        let client = match &l.author {
            None => &own,
            Some(a) => &others[a].0,
        };
        client.send(room, &l.text)?;
    }
    // Every line stored: the host log reaches the count.
    let want = lines.len() as u64;
    let end = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let head = store.reader()?.head_seq(room)?;
        if head >= want {
            break;
        }
        if std::time::Instant::now() > end {
            bail!("seeding {name}: only {head} of {want} messages stored");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The own user's cache catches up too (the app shows it at once).
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while store.synced_seq(room)? < want && std::time::Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    own.shutdown();
    for (c, _) in others.values() {
        c.shutdown();
    }
    host.shutdown().await;
    Ok(room)
}

async fn join(
    invite: &Invite,
    name: &str,
    store: Arc<Store>,
    passcode: Option<&str>,
) -> Result<Client> {
    let (c, mut ev) = Client::start(ClientConfig::new(invite.clone(), name, store))?;
    let room = invite.room_id.context("seed invite without a room")?;
    c.join(room, passcode.map(str::to_string))?;
    let joined = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(e) = ev.recv().await {
            match e {
                ClientEvent::Joined { .. } => return Ok(()),
                ClientEvent::JoinFailed { error, .. } => bail!("seed join refused: {error:?}"),
                _ => {}
            }
        }
        bail!("seed client stopped")
    })
    .await;
    joined.context("seed join timed out")??;
    // Drain events in the background so the client never waits on them.
    tokio::spawn(async move { while ev.recv().await.is_some() {} });
    Ok(c)
}
